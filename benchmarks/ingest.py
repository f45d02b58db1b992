"""Ingest throughput and peak memory against plain reads of the same files, in one run.

Generates a JSON Lines corpus of at least --size-gb (default 1.0) from real text (the Python standard
library's sources, cut into documents of 1-8 KB), then measures, each in its own process so peak RSS
is its own:

  baseline json     : a plain Python loop, `json.loads` per line (the least any JSONL reader does)
  baseline pyarrow  : `pyarrow.json.read_json` per file (a C++ reader that loads a file at once)
  curators library  : `curators.ingest.ingest_unit` per file, sequential (validation, ids, hashes,
                      rejects, Parquet shards with done-markers)
  curators flow     : the Prefect ingest flow (what `curate ingest` runs), units mapped on threads

and prints MB/s, the ratio to each baseline, and peak RSS.

    .venv/bin/python benchmarks/ingest.py [--size-gb 1.0] [--files 8] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def real_texts() -> list[str]:
    from curators.ingest.plan import stdlib_dir

    texts = []
    for path in sorted(stdlib_dir().rglob("*.py")):
        if "site-packages" in path.parts:
            continue
        try:
            texts.append(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, OSError):
            continue
    return texts


def generate(folder: Path, size_bytes: int, n_files: int) -> list[Path]:
    rng = random.Random(0)
    texts = [t for t in real_texts() if len(t) > 2000]
    files = [folder / f"corpus-{i:02d}.jsonl" for i in range(n_files)]
    per_file = size_bytes // n_files + 1
    doc = 0
    for path in files:
        written = 0
        with open(path, "w", encoding="utf-8") as fh:
            while written < per_file:
                text = rng.choice(texts)
                start = rng.randrange(0, max(1, len(text) - 1000))
                body = text[start : start + rng.randint(1000, 8000)]
                line = (
                    json.dumps(
                        {
                            "text": f"# document {doc}\n{body}",
                            "url": f"https://example.org/{doc}",
                            "dump": "CC-MAIN-2024-10",
                        }
                    )
                    + "\n"
                )
                fh.write(line)
                written += len(line.encode("utf-8"))
                doc += 1
    return files


def child(variant: str, files: list[str], work: str) -> None:
    started = time.perf_counter()
    records = 0
    if variant == "json":
        for path in files:
            with open(path, "rb") as fh:
                for line in fh:
                    json.loads(line)
                    records += 1
    elif variant == "pyarrow":
        import pyarrow.json as pj

        for path in files:
            records += pj.read_json(path).num_rows
    elif variant == "library":
        from curators.config import IngestConfig, SourceSpec
        from curators.ingest.plan import plan_units
        from curators.ingest.store import ingest_unit

        config = IngestConfig(sources=[SourceSpec(path=p) for p in files])
        for unit in plan_units(config).units:
            records += ingest_unit(unit, Path(work), "bench", config).seen
    elif variant == "flow":
        from flows.env import configure_environment

        configure_environment(Path(work))
        from prefect import flow

        from curators.config import IngestConfig, SourceSpec
        from flows.ingest import ingest_flow

        @flow
        def warm_up() -> None:  # starts Prefect's ephemeral API, once per process
            return None

        warm_up()
        startup = time.perf_counter() - started
        config = IngestConfig(sources=[SourceSpec(path=p) for p in files])
        summary = ingest_flow(work, config)
        records = summary.seen
        print(json.dumps({"prefect_startup_seconds": startup}))
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "records": records, "peak_mib": peak_kib / 1024}))


def measure(variant: str, files: list[Path], work: Path) -> dict:
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, __file__, "--child", variant, "--work", str(work), *map(str, files)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PREFECT_LOGGING_LEVEL": "ERROR"},
    )
    if done.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{done.stderr[-3000:]}")
    result: dict = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            result.update(json.loads(line))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--files", type=int, default=8)
    parser.add_argument("--keep", type=Path, help="Generate into (and reuse) this folder.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("paths", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.paths, args.work)
        return

    base = args.keep or Path(tempfile.mkdtemp(prefix="curate-bench-"))
    corpus = base / "corpus"
    files = sorted(corpus.glob("*.jsonl")) if corpus.is_dir() else []
    size = int(args.size_gb * 1024**3)
    if sum(f.stat().st_size for f in files) < size:
        shutil.rmtree(corpus, ignore_errors=True)
        corpus.mkdir(parents=True)
        t = time.perf_counter()
        files = generate(corpus, size, args.files)
        print(f"generated {len(files)} files in {time.perf_counter() - t:.1f}s")
    total = sum(f.stat().st_size for f in files)
    mb = total / 1e6
    print(f"input: {mb:,.0f} MB of JSON Lines in {len(files)} files; cores: {os.cpu_count()}")

    results = {v: measure(v, files, base / f"work-{v}") for v in ("json", "pyarrow", "library", "flow")}
    print(f"\n{'variant':<22}{'records':>12}{'seconds':>10}{'MB/s':>9}{'peak RSS MiB':>14}")
    for name, label in (
        ("json", "baseline json.loads"),
        ("pyarrow", "baseline pyarrow.json"),
        ("library", "curators library"),
        ("flow", "curators flow"),
    ):
        r = results[name]
        print(f"{label:<22}{r['records']:>12,}{r['seconds']:>10.1f}{mb / r['seconds']:>9.1f}{r['peak_mib']:>14.0f}")
    print()
    for ours in ("library", "flow"):
        for base_name in ("json", "pyarrow"):
            ratio = results[base_name]["seconds"] / results[ours]["seconds"]
            print(f"throughput ratio curators {ours} / baseline {base_name}: {ratio:.2f}x")
    print(
        f"peak memory: curators flow {results['flow']['peak_mib']:.0f} MiB on {mb / 1000:.2f} GB input "
        f"(pyarrow.json baseline {results['pyarrow']['peak_mib']:.0f} MiB)"
    )
    startup = results["flow"]["prefect_startup_seconds"]
    work = results["flow"]["seconds"] - startup
    print(
        f"curators flow: {startup:.1f}s of it is Prefect's one-off start (import + ephemeral API); "
        f"the ingest itself ran at {mb / work:.1f} MB/s, "
        f"{results['json']['seconds'] / work:.2f}x baseline json"
    )
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
