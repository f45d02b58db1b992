"""LLM gateway throughput against a loopback endpoint with a fixed latency and unlimited parallelism.

For concurrency 1, 8 and 64, prints the gateway's achieved requests/s, the ideal (concurrency /
latency), their ratio, and a plain sequential `openai` loop as the baseline, all in one run. Every
request is distinct (no cache hits) and asks for a structured answer that the gateway validates.

    .venv/bin/python benchmarks/llm_gateway.py [--latency 0.2] [--seconds 3]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import openai  # noqa: E402

from curators.config import LLMConfig  # noqa: E402
from curators.llm.cache import ResponseCache  # noqa: E402
from curators.llm.gateway import Endpoint, Gateway, LLMRequest  # noqa: E402
from curators.llm.prompts import EduScore  # noqa: E402


def requests(n: int, tag: str) -> list[LLMRequest]:
    return [
        LLMRequest(
            item_id=f"{tag}-{i}",
            messages=[{"role": "user", "content": f"ITEM:{tag}-{i} rate doc {i}"}],
            params={"temperature": 0.0, "max_tokens": 64},
            output=EduScore,
        )
        for i in range(n)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=float, default=0.2, help="Seconds the endpoint waits per request.")
    parser.add_argument("--seconds", type=float, default=10.0, help="Ideal duration of each measurement.")
    args = parser.parse_args()

    # The endpoint runs in a process of its own, as a real one would: it does not share our GIL.
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "benchmarks" / "fixed_latency_server.py"), "--latency", str(args.latency)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    base_url = server.stdout.readline().strip()
    try:
        run(base_url, args)
    finally:
        server.kill()
        server.wait()


def run(base_url: str, args: argparse.Namespace) -> None:
    # Baseline: a plain sequential loop with the openai SDK.
    client = openai.OpenAI(base_url=base_url, api_key="x", max_retries=0)
    n_plain = max(3, int(args.seconds / args.latency))
    started = time.perf_counter()
    for i in range(n_plain):
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": f"ITEM:plain-{i} x"}], max_tokens=64
        )
    plain_rps = n_plain / (time.perf_counter() - started)
    print(f"endpoint latency {args.latency * 1000:.0f} ms, unlimited parallelism (loopback)")
    print(f"baseline: plain sequential openai loop: {plain_rps:.2f} req/s\n")
    print(
        f"{'concurrency':>11} {'requests':>9} {'seconds':>8} {'req/s':>8} {'ideal':>8} {'of ideal':>9} "
        f"{'vs plain loop':>14}"
    )
    for concurrency in (1, 8, 64):
        ideal = concurrency / args.latency
        n = max(concurrency, int(ideal * args.seconds))
        gateway = Gateway(Endpoint(base_url, "bench-model"), LLMConfig(concurrency=concurrency), ResponseCache(None))
        started = time.perf_counter()
        stats = gateway.run_sync(requests(n, f"c{concurrency}"))
        seconds = time.perf_counter() - started
        assert stats.ok == n and stats.http_requests == n, stats
        rps = n / seconds
        print(
            f"{concurrency:>11} {n:>9} {seconds:>8.2f} {rps:>8.1f} {ideal:>8.1f} {rps / ideal:>9.2f} "
            f"{rps / plain_rps:>13.1f}x"
        )


if __name__ == "__main__":
    main()
