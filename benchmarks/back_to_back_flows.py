"""Flow runs one after another in one process, on Prefect's own API app and on this project's
(`flows.prefect_app`: Prefect's app with two fixes for SQLite's locks), in the same run.

Each variant runs in a process of its own with a new Prefect database: a temporary server (`flows.temporary_server`,
what a `curate` command starts) with the variant's app, then --runs short flows (3 tasks each) one after another,
as the pipeline's stages and `curate serve`'s runs follow one another. The variants alternate --rounds times.
Printed: how many runs stalled (over 1 s, over 10 s), the median run, the mean run and the total, per variant.

    .venv/bin/python benchmarks/back_to_back_flows.py [--runs 40] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = {
    "Prefect's app": "prefect.server.api.server:create_app",
    "flows.prefect_app": "flows.prefect_app:create_app",
}


def child(app: str, runs: int) -> None:
    sys.path.insert(0, str(ROOT))
    from flows.env import tune_flow_runs
    from flows.temporary_server import TemporaryServer, use_api

    server = TemporaryServer(app=app)
    tune_flow_runs()
    if not use_api(server):
        raise SystemExit("the temporary server did not answer")
    from prefect import flow, task

    @task
    def square(x: int) -> int:
        return x * x

    @flow
    def short() -> int:
        return sum(square.submit(i).result() for i in range(3))

    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        short()
        seconds.append(time.perf_counter() - started)
    print(json.dumps(seconds))


def measure(app: str, runs: int) -> list[float]:
    with tempfile.TemporaryDirectory() as home:
        env = {**os.environ, "PREFECT_HOME": home, "PREFECT_LOGGING_LEVEL": "CRITICAL", "DO_NOT_TRACK": "1"}
        env.pop("PREFECT_API_URL", None)
        done = subprocess.run(
            [sys.executable, __file__, "--child", app, "--runs", str(runs)],
            capture_output=True, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{app} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=40, help="Flow runs per process.")
    parser.add_argument("--rounds", type=int, default=3, help="Processes per variant (alternated).")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.runs)
        return
    print(f"{args.rounds} x {args.runs} short flow runs one after another per variant; cores: {os.cpu_count()}")
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for _ in range(args.rounds):
        for name, app in VARIANTS.items():
            seconds[name] += measure(app, args.runs)[1:]  # the first run of a process pays its first calls
    print(f"{'app':<20}{'runs':>6}{'> 1 s':>7}{'> 10 s':>8}{'median s':>10}{'mean s':>8}{'total s':>9}")
    for name, values in seconds.items():
        print(
            f"{name:<20}{len(values):>6}{sum(v > 1 for v in values):>7}{sum(v > 10 for v in values):>8}"
            f"{statistics.median(values):>10.2f}{statistics.mean(values):>8.2f}{sum(values):>9.1f}"
        )
    base, ours = (sum(seconds[name]) for name in VARIANTS)
    print(f"total time of the runs: Prefect's app / flows.prefect_app = {base / ours:.2f}x")


if __name__ == "__main__":
    main()
