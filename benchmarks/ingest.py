"""Ingest throughput per core and on every core, against plain reads of the same file, in one run.

Generates one JSON Lines file of at least --size-gb (default 0.3) from real text (the Python standard
library's sources, cut into documents of 1-8 KB): the case of issue 16, one large file. Then measures,
each in its own process (so that peak RSS is its own):

  baseline json     : a plain Python loop, `json.loads` per line (the least any JSONL reader does), one core
  baseline pyarrow  : `pyarrow.json.read_json`, one thread (a C++ reader that loads the file at once)
  curators library  : `curators.ingest.ingest_unit` on the whole file as one unit, one core (validation, ids,
                      hashes, rejects, Parquet shards with done-markers)
  curators flow     : the Prefect ingest flow (what `curate ingest` runs): the file split into byte ranges,
                      units in 1 worker process, then in --workers (default: every core)

and this machine's own ceiling for parallel work (N independent json.loads + sha256 processes against the same
work in one; on a shared or virtual machine often well under N: no flow can scale past it),
and prints MB/s, the library's ratio to json.loads per core (wall clock, and CPU time: on a shared machine
the CPU seconds a process got are the steadier measure), the flow's speed-up from 1 to N workers, and peak
RSS (the flow's: its processes and their workers together, sampled).

    .venv/bin/python benchmarks/ingest.py [--size-gb 0.3] [--workers N] [--repeat 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
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


def generate(path: Path, size_bytes: int) -> None:
    rng = random.Random(0)
    texts = [t for t in real_texts() if len(t) > 2000]
    written = doc = 0
    with open(path, "w", encoding="utf-8") as fh:
        while written < size_bytes:
            text = rng.choice(texts)
            start = rng.randrange(0, max(1, len(text) - 1000))
            body = text[start : start + rng.randint(1000, 8000)]
            record = {"text": f"# document {doc}\n{body}", "url": f"https://example.org/{doc}", "dump": "CC-MAIN"}
            line = json.dumps(record) + "\n"
            fh.write(line)
            written += len(line.encode("utf-8"))
            doc += 1


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class DescendantsCPU:
    """CPU seconds of this process's descendants while it runs (the flow's forkserver and its workers, which
    are not this process's children to `getrusage`): sampled, the last sample of each process kept."""

    def __init__(self) -> None:
        import threading

        import psutil

        self.me = psutil.Process()
        self.seen: dict[int, tuple[str, float]] = {}
        self.before: dict[int, float] = {}  # processes already there (Prefect's server): their CPU until now
        for process in self.me.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                self.before[process.pid] = sum(process.cpu_times()[:2])
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._sample, daemon=True)
        self.thread.start()

    def _sample(self) -> None:
        import psutil

        while not self.done.wait(0.05):
            for process in self.me.children(recursive=True):
                try:
                    cpu = sum(process.cpu_times()[:2]) - self.before.get(process.pid, 0.0)
                    parent = process.ppid()
                    if parent == self.me.pid:  # the forkserver, Prefect's server, the resource tracker
                        role = "forkserver" if "forkserver" in " ".join(process.cmdline()) else "other"
                    else:
                        role = "worker" if self.seen.get(parent, ("",))[0] == "forkserver" else "other"
                    self.seen[process.pid] = (role, cpu)
                except psutil.Error:
                    continue

    def stop(self) -> dict[str, float]:
        self.done.set()
        self.thread.join()
        workers = [cpu for role, cpu in self.seen.values() if role == "worker"]
        return {
            "workers_cpu": sum(workers),
            "max_worker_cpu": max(workers, default=0.0),
            "serial_cpu": sum(cpu for role, cpu in self.seen.values() if role == "forkserver"),
            "other_cpu": sum(cpu for role, cpu in self.seen.values() if role == "other"),
        }


def child(variant: str, path: str, work: str, workers: int) -> None:
    """One measurement, in this process: prints a JSON line of seconds, cpu seconds and records."""
    result: dict = {}
    if variant == "json":
        started, cpu = time.perf_counter(), cpu_seconds()
        records = 0
        with open(path, "rb") as fh:
            for line in fh:
                json.loads(line)
                records += 1
    elif variant == "pyarrow":
        import pyarrow.json as pj

        started, cpu = time.perf_counter(), cpu_seconds()
        records = pj.read_json(path, read_options=pj.ReadOptions(use_threads=False)).num_rows
    elif variant == "library":
        from curators.config import IngestConfig, SourceSpec
        from curators.ingest.plan import plan_units
        from curators.ingest.store import ingest_unit

        config = IngestConfig(sources=[SourceSpec(path=path)], split_bytes=1 << 50)  # the file as one unit
        started, cpu = time.perf_counter(), cpu_seconds()
        records = sum(ingest_unit(unit, Path(work), "bench", config).seen for unit in plan_units(config).units)
    else:  # flow
        from flows.env import configure_environment, tune_flow_runs

        configure_environment(Path(work))
        tune_flow_runs()  # as `curate ingest` does
        from prefect import flow

        import flows.ingest
        from curators.config import IngestConfig, SourceSpec
        from flows.ingest import ingest_flow
        from flows.processes import WorkerPool

        spans: list[tuple[float, float]] = []  # each unit's (start, end): the units' phase of the flow

        def timed(call):  # noqa: ANN001, ANN202
            def wrapper(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
                start = time.perf_counter()
                try:
                    return call(*args, **kwargs)
                finally:
                    spans.append((start, time.perf_counter()))

            return wrapper

        if workers:
            WorkerPool.run = timed(WorkerPool.run)  # units in worker processes
        else:
            flows.ingest.ingest_unit = timed(flows.ingest.ingest_unit)  # units in the flow's threads

        @flow
        def warm_up() -> None:  # starts Prefect's ephemeral API, once per process
            return None

        warm_up()
        config = IngestConfig(sources=[SourceSpec(path=path)])
        sampler = DescendantsCPU()
        started, cpu = time.perf_counter(), cpu_seconds()
        summary = ingest_flow(work, config, workers=workers)
        assert summary.status == "finished" and not summary.units_failed, summary
        records = summary.seen
        result.update(units=summary.units, flow_cpu=cpu_seconds() - cpu, **sampler.stop())
        result["units_seconds"] = max(end for _, end in spans) - min(start for start, _ in spans)
    result.update(seconds=time.perf_counter() - started, cpu=cpu_seconds() - cpu, records=records)
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


def _ceiling_unit(path: str, n_bytes: int) -> None:
    """CPU-bound work of the ingest kind, with no orchestration: json.loads and sha256 of the first n_bytes."""
    import hashlib

    with open(path, "rb") as fh:
        for line in fh.readlines(n_bytes):
            hashlib.sha256(json.loads(line)["text"].encode()).digest()


def machine_ceiling(path: Path, workers: int, n_bytes: int = 60_000_000) -> float:
    """This machine's own speed-up for perfectly parallel work: `workers` independent units in `workers` processes
    at once against the same units one after another in one process (no Prefect, no shared input, no results).
    On a shared or virtual machine it is often well under `workers`; no flow can do better."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")

    def run_in(n_processes: int) -> float:
        started = time.perf_counter()
        processes = [
            ctx.Process(target=lambda: [_ceiling_unit(str(path), n_bytes) for _ in range(workers // n_processes)])
            for _ in range(n_processes)
        ]
        for p in processes:
            p.start()
        for p in processes:
            p.join()
        return time.perf_counter() - started

    return run_in(1) / run_in(workers)


def measure(variant: str, path: Path, work: Path, workers: int = 0) -> dict:
    """Run one measurement in a child process; peak RSS sampled over it and its descendants (flow workers)."""
    import psutil

    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    command = [sys.executable, __file__, "--child", variant, "--work", str(work), "--workers", str(workers), str(path)]
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": "ERROR"}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    peak_total = 0
    parent = psutil.Process(process.pid)
    while process.poll() is None:
        try:
            family = [parent, *parent.children(recursive=True)]
            peak_total = max(peak_total, sum(p.memory_info().rss for p in family if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.1)
    out, err = process.communicate()
    if process.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{err[-3000:]}")
    result: dict = {"peak_total_mib": peak_total / 2**20}
    for line in out.splitlines():
        if line.startswith("{"):
            result.update(json.loads(line))
    return result


def best(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-gb", type=float, default=0.3)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeat", type=int, default=1, help="Run each measurement this many times; keep the best.")
    parser.add_argument("--keep", type=Path, help="Generate into (and reuse) this folder.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("path", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path, args.work, args.workers)
        return

    base = args.keep or Path(tempfile.mkdtemp(prefix="curate-bench-"))
    base.mkdir(parents=True, exist_ok=True)
    path = base / "corpus.jsonl"
    size = int(args.size_gb * 1024**3)
    if not path.is_file() or path.stat().st_size < size:
        t = time.perf_counter()
        generate(path, size)
        print(f"generated {path.name} in {time.perf_counter() - t:.1f}s")
    mb = path.stat().st_size / 1e6
    print(f"input: one JSON Lines file of {mb:,.0f} MB; cores: {len(os.sched_getaffinity(0))}; load average: "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}")  # fmt: skip

    plan = [("json", 0), ("pyarrow", 0), ("library", 0), ("flow", 1), ("flow", args.workers)]
    runs: dict[tuple[str, int], list[dict]] = {key: [] for key in plan}
    ceilings: list[float] = []
    for _ in range(args.repeat):  # interleaved: a change of the machine's load hits every variant alike
        for variant, workers in plan:
            runs[(variant, workers)].append(measure(variant, path, base / f"work-{variant}-{workers}", workers))
        ceilings.append(machine_ceiling(path, args.workers))
    results = {key: best(value) for key, value in runs.items()}

    labels = {
        ("json", 0): "baseline json.loads",
        ("pyarrow", 0): "baseline pyarrow.json",
        ("library", 0): "curators library",
        ("flow", 1): "curators flow, 1 worker",
        ("flow", args.workers): f"curators flow, {args.workers} workers",
    }
    header = f"{'records':>11}{'units':>7}{'seconds':>9}{'MB/s':>8}{'CPU s':>8}{'MB/CPU s':>10}{'peak MiB':>10}"
    print(f"\n{'variant':<30}{header}")
    for key, label in labels.items():
        r = results[key]
        cpu = f"{r['cpu']:>8.1f}{mb / r['cpu']:>10.1f}" if key[0] != "flow" else f"{'':>8}{'':>10}"
        print(f"{label:<30}{r['records']:>11,}{r.get('units', 1):>7}{r['seconds']:>9.1f}{mb / r['seconds']:>8.1f}{cpu}"
              f"{r['peak_total_mib']:>10.0f}")  # fmt: skip
    lib, base_json = results[("library", 0)], results[("json", 0)]
    flow1, flow_n = results[("flow", 1)], results[("flow", args.workers)]
    print()
    print(
        f"per core: curators library / json.loads = {base_json['seconds'] / lib['seconds']:.2f}x wall clock, "
        f"{base_json['cpu'] / lib['cpu']:.2f}x CPU time (goal >= 0.5x)"
    )
    print(
        f"one file on {args.workers} cores: flow with {args.workers} workers / 1 worker = "
        f"{flow1['seconds'] / flow_n['seconds']:.2f}x wall clock (goal >= 1.8x on 2 cores); "
        f"/ library on one core = {lib['seconds'] / flow_n['seconds']:.2f}x"
    )
    print(
        f"  this machine's ceiling: {args.workers} independent CPU-bound processes (json.loads + sha256, no Prefect) "
        f"= {max(ceilings):.2f}x one (each repeat: {', '.join(f'{c:.2f}' for c in ceilings)}); the flow reaches "
        f"{flow1['seconds'] / flow_n['seconds'] / max(ceilings):.0%} of it"
    )
    print(
        f"  its units' phase (first unit's start to last unit's end: the flow's fixed costs left out): "
        f"{flow1['units_seconds']:.1f}s / {flow_n['units_seconds']:.1f}s = "
        f"{flow1['units_seconds'] / flow_n['units_seconds']:.2f}x; the flow's fixed costs "
        f"{flow1['seconds'] - flow1['units_seconds']:.1f}s and {flow_n['seconds'] - flow_n['units_seconds']:.1f}s"
    )
    for key in ((("flow", 1)), ("flow", args.workers)):
        r = results[key]
        r["path_cpu"] = r["flow_cpu"] + r["serial_cpu"] + r["max_worker_cpu"]
        print(
            f"  flow, {key[1]} worker(s), CPU seconds: flow process {r['flow_cpu']:.1f}, forkserver "
            f"{r['serial_cpu']:.1f}, workers {r['workers_cpu']:.1f} (the busiest {r['max_worker_cpu']:.1f}); "
            f"critical path {r['path_cpu']:.1f} (+ Prefect's server {r['other_cpu']:.1f}, alongside)"
        )
    print(
        f"  on free cores (critical paths in CPU seconds, which other processes' load does not stretch): "
        f"{flow1['path_cpu'] / flow_n['path_cpu']:.2f}x"
    )
    print(
        f"peak memory: library {lib['peak_total_mib']:.0f} MiB; flow with {args.workers} workers "
        f"{flow_n['peak_total_mib']:.0f} MiB in all (its process and workers) on {mb / 1000:.2f} GB input"
    )
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
