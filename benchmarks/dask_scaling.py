"""The map stages on a Dask cluster of 1 and 2 workers against the thread runner, on the same corpus.

Builds a JSON Lines corpus of at least --size-mb (default 120) from real code (the Python standard library's
sources cut into 1-8 KB documents, 10% of them near-copies so dedup has pairs to verify), in 8 files, then
for each runner runs `curate ingest`, `curate dedup` and `curate decontam` (every installed benchmark set) as
commands of their own on a fresh data root, and prints per stage: wall seconds, CPU seconds (the command's
process tree plus the Dask workers'), and the ratio of wall time to the thread runner's. The Dask scheduler
and workers are started on loopback before the stages (`dask scheduler` / `dask worker`), so their start is
not counted; the commands reach them with --dask-address. Scoring is not here: it needs a trained filter
and embeds every document (benchmarks/score_throughput.py measures it on both runners).

    .venv/bin/python benchmarks/dask_scaling.py [--size-mb 120] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from curators.child_processes import free_port

ROOT = Path(__file__).resolve().parents[1]
STAGES = ("ingest", "dedup", "decontam")


def build_corpus(folder: Path, size_mb: int, files: int = 8) -> int:
    from curators.ingest.plan import stdlib_dir

    rng = random.Random(0)
    texts = []
    for path in sorted(stdlib_dir().rglob("*.py")):
        try:
            source = path.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        k = 0
        while k < len(source):
            size = rng.randint(1000, 8000)
            texts.append(source[k : k + size])
            k += size
    folder.mkdir(parents=True, exist_ok=True)
    lines: list[list[str]] = [[] for _ in range(files)]
    written, n, target = 0, 0, size_mb << 20
    rng.shuffle(texts)
    while written < target:
        for text in texts:
            if written >= target:
                break
            copies = [text]
            if rng.random() < 0.1:  # and a near-copy: a few words changed
                words = text.split(" ")
                for _ in range(3):
                    words[rng.randrange(len(words))] = "changed"
                copies.append(" ".join(words))
            for copy in copies:
                line = json.dumps({"text": copy, "name": f"doc{n}"}) + "\n"
                lines[rng.randrange(files)].append(line)
                written += len(line.encode())
                n += 1
    for k, part in enumerate(lines):
        (folder / f"part-{k}.jsonl").write_text("".join(part), encoding="utf-8")
    return written


def tree_cpu(processes: list[psutil.Process]) -> float:
    total = 0.0
    for p in processes:
        try:
            t = p.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
        except psutil.NoSuchProcess:
            pass
    return total


def run_stage(
    stage: str, data_root: Path, corpus: Path, address: str | None, workers: list[psutil.Process]
) -> tuple[float, float, int]:
    """Run one stage's command; (wall seconds, CPU seconds of the Dask workers meanwhile, driver peak RSS)."""
    command = [sys.executable, "-m", "flows.cli", "-d", str(data_root), stage]
    if stage == "ingest":
        command += [str(corpus), "--name", "code", "--format", "jsonl"]
    if address:
        command += ["--runner", "dask", "--dask-address", address]
    before = tree_cpu(workers)
    started = time.monotonic()
    log = data_root.parent / f"{data_root.name}-{stage}.log"
    data_root.parent.mkdir(parents=True, exist_ok=True)
    peak = 0
    with open(log, "w") as out:
        child = psutil.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
        while child.poll() is None:  # the driver's peak memory: the command and its own children
            rss = 0
            try:
                for p in [child, *child.children(recursive=True)]:
                    rss += p.memory_info().rss
            except psutil.NoSuchProcess:
                pass
            peak = max(peak, rss)
            time.sleep(0.1)
    wall = time.monotonic() - started
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{log.read_text()[-3000:]}")
    return wall, tree_cpu(workers) - before, peak


def print_sizes(data_root: Path) -> None:
    """What the scale arithmetic needs: signature bytes per document, candidates and verified pairs."""
    sys.path.insert(0, str(ROOT))
    from warehouse.catalog import query

    _, ((docs,),) = query(data_root, "SELECT count(*) FROM docs")
    sig_bytes = sum(p.stat().st_size for p in (data_root / "tables" / "minhash").rglob("*.parquet"))
    _, ((counts,),) = query(data_root, "SELECT counts FROM runs WHERE flow = 'dedup' ORDER BY started DESC LIMIT 1")
    counts = json.loads(counts)
    print(
        f"  sizes: {docs:,} documents; minhash shards {sig_bytes / docs:,.0f} bytes/document on disk; "
        f"candidates {counts.get('candidates', 0):,} ({counts.get('candidates', 0) / docs:.3f}/document); "
        f"dups {counts.get('dups', 0):,}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mb", type=int, default=120)
    parser.add_argument("--keep", type=Path, default=None, help="Keep the corpus and data roots here.")
    args = parser.parse_args()
    base = args.keep or Path(tempfile.mkdtemp(prefix="dask-scaling-"))
    corpus = base / "corpus"
    size = sum(f.stat().st_size for f in corpus.iterdir()) if corpus.exists() else build_corpus(corpus, args.size_mb)
    print(f"corpus: {size / 2**20:.0f} MB of JSON Lines in {len(list(corpus.iterdir()))} files; {os.cpu_count()} cores")

    import resource

    results: dict[str, dict[str, tuple[float, float]]] = {}
    env = {**os.environ, "DASK_LOGGING__DISTRIBUTED": "error"}
    for name, n_workers in (("threads", 0), ("dask x1", 1), ("dask x2", 2)):
        data_root = base / name.replace(" ", "-")
        shutil.rmtree(data_root, ignore_errors=True)
        cluster: list[subprocess.Popen] = []
        address = None
        if n_workers:
            port = free_port()
            address = f"tcp://127.0.0.1:{port}"
            cluster.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_scheduler",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--no-dashboard",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
            )
            cluster.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "distributed.cli.dask_worker",
                        address,
                        "--nworkers",
                        str(n_workers),
                        "--nthreads",
                        "1",
                        "--no-dashboard",
                    ],
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    cwd=base,
                )  # fmt: skip
            )
            from distributed import Client

            with Client(address, timeout=60) as client:
                client.wait_for_workers(n_workers, timeout=120)
        try:
            worker_procs = [psutil.Process(p.pid) for p in cluster[1:]]
            workers = [c for w in worker_procs for c in [w, *w.children(recursive=True)]]
            results[name] = {}
            for stage in STAGES:
                children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
                wall, worker_cpu, peak = run_stage(stage, data_root, corpus, address, workers)
                children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
                own = (children_after.ru_utime - children_before.ru_utime) + (
                    children_after.ru_stime - children_before.ru_stime
                )
                results[name][stage] = (wall, own + worker_cpu)
                print(
                    f"  {name:<8} {stage:<9} {wall:7.1f} s wall  {own + worker_cpu:7.1f} s CPU  "
                    f"driver peak {peak / 2**20:6.0f} MB",
                    flush=True,
                )
        finally:
            for p in reversed(cluster):
                p.terminate()
                p.wait(timeout=30)
        counts = subprocess.run(
            [sys.executable, "-m", "flows.cli", "-d", str(data_root), "sql",
             "SELECT (SELECT count(*) FROM docs), (SELECT count(*) FROM dups), "
             "(SELECT count(DISTINCT id) FROM contamination)", "--csv"],
            cwd=ROOT, capture_output=True, text=True,
        ).stdout.strip().splitlines()[-1]  # fmt: skip
        print(f"  {name:<8} docs, dups, contaminated: {counts}")
        if name == "threads":
            print_sizes(data_root)

    print()
    print(f"{'stage':<10}" + "".join(f"{n:>22}" for n in results) + "   (wall s / CPU s; ratio = wall / threads)")
    for stage in (*STAGES, "total"):
        cells = []
        for name in results:
            if stage == "total":
                wall = sum(w for w, _ in results[name].values())
                cpu = sum(c for _, c in results[name].values())
                base_wall = sum(w for w, _ in results["threads"].values())
            else:
                wall, cpu = results[name][stage]
                base_wall = results["threads"][stage][0]
            cells.append(f"{wall:6.1f}/{cpu:6.1f} x{wall / base_wall:4.2f}")
        print(f"{stage:<10}" + "".join(f"{c:>22}" for c in cells))
    mb = size / 2**20
    for name in results:
        wall = sum(w for w, _ in results[name].values())
        print(f"{name:<8} {mb / wall:6.1f} MB/s end to end for the three stages")
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
