"""What a stage command costs before it does anything: a no-op `curate dedup` and `curate quality` (the
warehouse is already done) with an ephemeral Prefect API per command (the default) against the same commands
while a Prefect server runs for the data root (as `curate serve` leaves one: <data root>/.prefect/server.json),
with `curate status` (no Prefect at all) as the floor. Median of --repeats runs each, in one run.

    .venv/bin/python benchmarks/cli_overhead.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

CURATE = [sys.executable, "-m", "flows.cli"]
ROOT = Path(__file__).resolve().parent.parent


def curate(root: Path, *args: str, env: dict[str, str]) -> float:
    started = time.monotonic()
    done = subprocess.run([*CURATE, "-d", str(root), *args], capture_output=True, text=True, env=env, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"curate {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return time.monotonic() - started


def median_of(n: int, root: Path, args: list[str], env: dict[str, str]) -> float:
    return statistics.median(curate(root, *args, env=env) for _ in range(n))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_SERVER_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1"}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "data"
        corpus = Path(tmp) / "corpus.jsonl"
        corpus.write_text(
            "".join(json.dumps({"text": f"Document {i} explains how a shared server saves time. " * 30}) + "\n"
                    for i in range(200))
        )  # fmt: skip
        curate(root, "ingest", str(corpus), "--name", "bench", env=env)
        curate(root, "dedup", env=env)
        curate(root, "quality", env=env)
        commands = [["status"], ["dedup"], ["quality"]]
        ephemeral = {c[0]: median_of(args.repeats, root, c, env) for c in commands}

        port = free_port()
        home = Path(tmp) / "prefect-home"
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env=env | {"PREFECT_HOME": str(home), "PREFECT_UI_ENABLED": "false"},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}/api"
        try:
            started = time.monotonic()
            while True:
                try:
                    with urllib.request.urlopen(f"{url}/health", timeout=1) as answer:
                        if answer.status == 200:
                            break
                except OSError:
                    time.sleep(0.3)
                if time.monotonic() - started > 120:
                    raise SystemExit("the Prefect server did not start in 120 s")
            server_start = time.monotonic() - started
            (root / ".prefect").mkdir(exist_ok=True)
            (root / ".prefect" / "server.json").write_text(json.dumps({"url": url, "pid": server.pid}))
            shared = {c[0]: median_of(args.repeats, root, c, env) for c in commands}
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(f"no-op stage commands, median of {args.repeats} (s); Prefect server start (once): {server_start:.1f} s")
    print(f"{'command':<16}{'ephemeral API':>15}{'running server':>16}{'ratio':>8}")
    for name in ephemeral:
        print(f"curate {name:<9}{ephemeral[name]:>15.2f}{shared[name]:>16.2f}{ephemeral[name] / shared[name]:>7.1f}x")


if __name__ == "__main__":
    main()
