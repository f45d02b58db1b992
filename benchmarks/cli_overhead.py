"""What a stage command costs before and around its work, in one run:

1. No-op latency (median of --repeats): `curate dedup` and `curate quality` on a warehouse where they are done,
   - with `--rerun` (the flow runs and finds nothing to do) without a server: each command starts its own
     temporary (ephemeral) API, `flows/temporary_server.py`,
   - the same with a Prefect server running for the data root (`curate prefect start`),
   - and without `--rerun`: nothing changed since they finished, so they answer without Prefect;
   `curate status` (no Prefect at all) is the floor.
2. End to end: `curate ingest` + `curate dedup` on >= --mb MB of real code (the .py files of this environment's
   site-packages, one document a file, one JSONL file), without a server and with a running server,
   against the library doing the same work in-process (ingest_unit per unit, signatures per shard, the
   cluster step), timed without imports.

    .venv/bin/python benchmarks/cli_overhead.py [--repeats 3] [--mb 100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

CURATE = [sys.executable, "-m", "flows.cli"]
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from curators.child_processes import free_port  # noqa: E402 (after the path it is found on)


def curate(root: Path, *args: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    done = subprocess.run([*CURATE, "-d", str(root), *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"curate {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def median_of(n: int, root: Path, args: list[str], env: dict[str, str]) -> float:
    return statistics.median(curate(root, *args, env=env) for _ in range(n))


def code_corpus(path: Path, mb: int) -> int:
    """One JSONL file of real Python sources (sorted, so the same bytes every run); returns its size."""
    written, target = 0, mb * 1_000_000
    with open(path, "w", encoding="utf-8") as out:
        for source in sorted(Path(sysconfig.get_paths()["purelib"]).rglob("*.py")):
            if written >= target:
                break
            try:
                text = source.read_text(encoding="utf-8")
            except (UnicodeDecodeError, OSError):
                continue
            if text.strip():
                line = json.dumps({"text": text, "path": str(source)}) + "\n"
                out.write(line)
                written += len(line.encode())
    if written < target:
        raise SystemExit(f"only {written / 1e6:.0f} MB of Python sources found")
    return written


LIBRARY = """
import json, sys, time
from pathlib import Path
from curators.config import IngestConfig, SourceSpec
from curators.dedup.config import DedupConfig
from curators.dedup.store import band_pairs, cluster, signature_shard, verify_pairs
from curators.ingest.plan import plan_units
from curators.ingest.store import ingest_unit
from warehouse.listings import text_shards
from warehouse.runs import open_run

root, corpus = Path(sys.argv[1]), sys.argv[2]
started = time.monotonic()
config = IngestConfig(sources=[SourceSpec(path=corpus, name="code", format="jsonl")])
with open_run(root, "ingest", config) as run:
    for unit in plan_units(config).units:
        ingest_unit(unit, root, run.run_id, config)
ingested = time.monotonic()
dedup = DedupConfig()
with open_run(root, "minhash", dedup.minhash) as run:
    for shard in text_shards(root, "docs"):
        signature_shard(root, run.run_id, shard, dedup.minhash)
with open_run(root, "dedup", dedup) as run:
    cluster(root, run.run_id, "docs", dedup, against=[], map_bands=lambda jobs: [band_pairs(j) for j in jobs],
            map_verify=lambda jobs, total: [verify_pairs(j) for j in jobs])
print(json.dumps({"ingest": ingested - started, "dedup": time.monotonic() - ingested}))
"""


def library(root: Path, corpus: Path, env: dict[str, str]) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", LIBRARY, str(root), str(corpus)], capture_output=True, text=True, env=env, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(f"the library run failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def end_to_end(root: Path, corpus: Path, env: dict[str, str]) -> dict[str, float]:
    ingest = curate(root, "ingest", str(corpus), "--name", "code", "--format", "jsonl", env=env)
    return {"ingest": ingest, "dedup": curate(root, "dedup", env=env)}


def start_server(root: Path, env: dict[str, str]) -> float:
    started = time.monotonic()
    curate(root, "prefect", "start", "--port", str(free_port()), env=env)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--mb", type=int, default=100, help="Size of the code corpus of the end-to-end part.")
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1"}
    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        # 1. No-op latency on a small warehouse.
        root = tmp_path / "small"
        small = tmp_path / "small.jsonl"
        small.write_text(
            "".join(json.dumps({"text": f"Document {i} explains how a shared server saves time. " * 30}) + "\n"
                    for i in range(200))
        )  # fmt: skip
        curate(root, "ingest", str(small), "--name", "bench", env=env)
        curate(root, "dedup", env=env)
        curate(root, "quality", env=env)
        noop: dict[str, dict[str, float]] = {"status": {}, "dedup": {}, "quality": {}}
        noop["status"]["floor"] = median_of(args.repeats, root, ["status"], env)
        for command in ("dedup", "quality"):
            noop[command]["ephemeral"] = median_of(args.repeats, root, [command, "--rerun"], env)
        server_start = start_server(root, env)
        try:
            for command in ("dedup", "quality"):
                noop[command]["server"] = median_of(args.repeats, root, [command, "--rerun"], env)
                noop[command]["up to date"] = median_of(args.repeats, root, [command], env)
        finally:
            curate(root, "prefect", "stop", env=env)

        # 2. End to end on real code.
        corpus = tmp_path / "code.jsonl"
        size = code_corpus(corpus, args.mb)
        lib = library(tmp_path / "library", corpus, env)
        ephemeral = end_to_end(tmp_path / "ephemeral", corpus, env)
        shutil.rmtree(tmp_path / "ephemeral")
        served_root = tmp_path / "served"
        start_server(served_root, env)
        try:
            served = end_to_end(served_root, corpus, env)
        finally:
            curate(served_root, "prefect", "stop", env=env)

    print(f"1. no-op stage commands, median of {args.repeats} (s); `curate prefect start`: {server_start:.1f} s")
    print(f"{'command':<17}{'no server':>14}{'running server':>16}{'up to date':>12}")
    print(f"{'curate status':<17}{'':>14}{'':>16}{noop['status']['floor']:>12.2f}   (no Prefect: the floor)")
    for command in ("dedup", "quality"):
        t = noop[command]
        print(f"curate {command:<10}{t['ephemeral']:>14.2f}{t['server']:>16.2f}{t['up to date']:>12.2f}")
    print("  (no server / running server: with --rerun, the flow runs and finds nothing to do)")
    mb = size / 1e6
    print(f"\n2. curate ingest + curate dedup on {mb:.0f} MB of real code (one JSONL file), {cores} cores")
    print(f"{'':<22}{'ingest s':>9}{'dedup s':>9}{'total s':>9}{'MB/s':>7}{'MB/s/core':>11}{'vs library':>12}")
    lib_rate = mb / (lib["ingest"] + lib["dedup"])
    for name, t in (("library (in-process)", lib), ("CLI, no server", ephemeral), ("CLI, running server", served)):
        total = t["ingest"] + t["dedup"]
        rate = mb / total
        print(
            f"{name:<22}{t['ingest']:>9.1f}{t['dedup']:>9.1f}{total:>9.1f}{rate:>7.1f}{rate / cores:>11.1f}"
            f"{rate / lib_rate:>11.2f}x"
        )


if __name__ == "__main__":
    main()
