"""The embedded endpoint's two engines side by side, in one run: llama-cpp-python's server (one slot; the
fallback, and the engine before llama.cpp's own llama-server) against llama-server with `--parallel N`.

Workloads, each against a fresh server per engine (same model, same threads, same per-request context):
- writing: ~50-token prompts, 256 tokens out, temperature 0, 4 and then 8 requests in flight;
  aggregate tokens/s (completion tokens of all requests / wall time);
- labelling: the real `edu-code` labelling prompt on stdlib files cut to ~900 prompt tokens, 40 tokens
  out, the response_format the gateway sends to that engine, as many requests in flight as the gateway
  sends (llama-cpp-python: 1, llama-server: its slots); documents/s over 16 documents (each slot computes its
  first prompt whole and reuses the prompt's common prefix after that, as llama-cpp-python's one slot does);
- peak resident memory of the server process (VmHWM) over both;
- then `curate synth textbooks --n 16 --no-gates` wall time on each engine (a fresh data root each; the
  template's 900-token limit unless --synth-max-tokens).

Goals (issue 16): writing >= 1.8x, labelling >= 1.15x, peak memory <= llama-cpp-python's.

    .venv/bin/python benchmarks/embedded_endpoint.py                 # the default model (Qwen2.5-Coder-1.5B)
    .venv/bin/python benchmarks/embedded_endpoint.py --quick         # SmolLM2-135M, fewer requests, no synth
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import httpx  # noqa: E402

from curators.config import LabelConfig, LLMConfig  # noqa: E402
from curators.filter.label import LabelItem, build_request  # noqa: E402
from curators.ingest.plan import stdlib_dir  # noqa: E402
from curators.llm.gateway import Endpoint, Gateway  # noqa: E402
from curators.llm.llama_server import choose_engine, default_slots  # noqa: E402
from curators.llm.local_server import DEFAULT_MODEL, TEST_MODEL, LocalServer, resolve_model, start_server  # noqa: E402

ENGINES = ("llama-cpp-python", "llama-server")
TOPICS = [
    "binary search",
    "Python dictionaries",
    "recursion",
    "photosynthesis",
    "the French Revolution",
    "unit testing",
    "prime numbers",
    "hash tables",
    "plate tectonics",
    "linked lists",
    "the water cycle",
    "SQL joins",
    "Newton's laws",
    "sorting algorithms",
    "regular expressions",
    "fractions",
]
SYSTEM = "You write clear, accurate teaching material for students."
LABEL_FILES = [
    "textwrap.py",
    "json/decoder.py",
    "heapq.py",
    "bisect.py",
    "fnmatch.py",
    "colorsys.py",
    "shlex.py",
    "queue.py",
    "glob.py",
    "sched.py",
    "statistics.py",
    "graphlib.py",
]


@dataclass
class EngineResult:
    engine: str
    slots: int
    startup_s: float = 0.0
    writing: dict[int, tuple[float, float, int]] = field(default_factory=dict)  # in flight -> tok/s, s, tokens
    labelling: tuple[float, float, int, float] = (0.0, 0.0, 0, 0.0)  # docs/s, s, docs, mean prompt tokens
    peak_rss_mb: float = 0.0
    synth_s: float | None = None
    synth_note: str = ""


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def fire(port: int, bodies: list[dict], in_flight: int, path: str = "/v1/chat/completions") -> tuple[float, list]:
    semaphore = asyncio.Semaphore(in_flight)
    async with httpx.AsyncClient(timeout=3600, limits=httpx.Limits(max_connections=in_flight + 2)) as http:

        async def one(body: dict) -> dict:
            async with semaphore:
                response = await http.post(f"http://127.0.0.1:{port}{path}", json=body)
                response.raise_for_status()
                return response.json()

        started = time.monotonic()
        answers = await asyncio.gather(*(one(b) for b in bodies))
        return time.monotonic() - started, answers


def writing_bodies(model: str, n: int, offset: int) -> list[dict]:
    topics = [TOPICS[(offset + i) % len(TOPICS)] for i in range(n)]
    return [
        {
            "model": model,
            "messages": [
                {"role": "system", "content": SYSTEM},
                {
                    "role": "user",
                    "content": f"Write a section of a textbook for beginners about {topic}. "
                    "Explain it step by step with one worked example.",
                },
            ],
            "temperature": 0,
            "max_tokens": 256,
        }
        for topic in topics
    ]


def labelling_bodies(server: LocalServer, n: int, doc_tokens: int) -> list[dict]:
    endpoint = Endpoint(server.base_url, server.model, local=True, slots=server.slots, engine=server.engine)
    gateway = Gateway(endpoint, LLMConfig())
    bodies = []
    for name in (LABEL_FILES * 4)[:n]:
        item = LabelItem(id=name, text=(stdlib_dir() / name).read_text(), language="python")
        request = build_request(item, LabelConfig(max_doc_tokens=doc_tokens))[0]
        body = {"model": server.model, "messages": request.messages, **request.params, "max_tokens": 40}
        body["response_format"] = gateway._response_format(request.output)  # what the gateway sends this engine
        bodies.append(body)
    return bodies


def run_engine(engine: str, args: argparse.Namespace) -> EngineResult:
    started = time.monotonic()
    server = start_server(
        args.model, n_ctx=2048, n_threads=args.threads, engine=engine, slots=args.slots, log_dir=args.logs
    )
    result = EngineResult(engine, server.slots, startup_s=time.monotonic() - started)
    try:
        print(f"  {engine}: up in {result.startup_s:.1f} s, {server.slots} slot(s)", flush=True)
        for k, in_flight in enumerate(args.in_flight):
            bodies = writing_bodies(server.model, args.writing_n, offset=k * args.writing_n)
            wall, answers = asyncio.run(fire(server.port, bodies, in_flight))
            tokens = sum(a["usage"]["completion_tokens"] for a in answers)
            result.writing[in_flight] = (tokens / wall, wall, tokens)
            print(f"  {engine}: writing, {in_flight} in flight: {tokens} tokens in {wall:.1f} s", flush=True)
        bodies = labelling_bodies(server, args.label_n, args.label_doc_tokens)
        wall, answers = asyncio.run(fire(server.port, bodies, server.slots))
        prompt = sum(a["usage"]["prompt_tokens"] for a in answers) / len(answers)
        result.labelling = (len(answers) / wall, wall, len(answers), prompt)
        print(f"  {engine}: labelling: {len(answers)} docs in {wall:.1f} s ({prompt:.0f} prompt tokens)", flush=True)
        result.peak_rss_mb = peak_rss_mb(server.pid)
    finally:
        server.stop()
    return result


def synth_textbooks(engine: str, args: argparse.Namespace) -> tuple[float, str]:
    """`curate synth textbooks --n 16 --no-gates` on a fresh data root, this engine; wall time and counts."""
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
        config = Path(tmp) / "curate.yaml"
        llm = {"local_model": args.model, "local_engine": engine}
        if args.threads:
            llm["local_threads"] = args.threads
        if args.slots:
            llm["local_slots"] = args.slots
        config.write_text(json.dumps({"llm": llm}))
        command = [sys.executable, "-m", "flows.cli", "-c", str(config), "-d", str(Path(tmp) / "data")]
        command += ["synth", "textbooks", "--n", str(args.synth_n), "--no-gates"]
        if args.synth_max_tokens:
            command += ["--max-tokens", str(args.synth_max_tokens)]
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        wall = time.monotonic() - started
        lines = [ln.strip() for ln in (done.stdout + done.stderr).splitlines() if ln.strip()]
        note = "; ".join(lines[-3:]) if done.returncode else next((ln for ln in lines if " run " in ln), "")
        if done.returncode:
            note = f"FAILED (exit {done.returncode}): {note}"
        return wall, note[:200]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help=f"packaged model or .gguf (default: {DEFAULT_MODEL})")
    parser.add_argument("--quick", action="store_true", help=f"{TEST_MODEL}, 4 requests per step, no synth")
    parser.add_argument("--threads", type=int, default=None, help="server threads (default: all cores)")
    parser.add_argument("--slots", type=int, default=None, help="llama-server slots (default: by cores)")
    parser.add_argument("--in-flight", type=int, nargs="+", default=[4, 8])
    parser.add_argument("--writing-n", type=int, default=8, help="requests per in-flight level")
    parser.add_argument("--label-n", type=int, default=16, help="documents to label")
    parser.add_argument("--label-doc-tokens", type=int, default=600, help="document budget (~900 prompt tokens)")
    parser.add_argument("--synth-n", type=int, default=16)
    parser.add_argument("--synth-max-tokens", type=int, default=None)
    parser.add_argument("--no-synth", action="store_true")
    parser.add_argument("--synth-only", action="store_true", help="only the `curate synth textbooks` comparison")
    args = parser.parse_args()
    if args.quick:
        args.model = args.model or TEST_MODEL
        args.writing_n = args.label_n = 4
        args.no_synth = True
    args.model = args.model or DEFAULT_MODEL
    resolve_model(args.model)  # installed and verified before anything is timed
    engine = choose_engine()
    if engine.name != "llama-server":
        sys.exit(f"llama-server is needed for the comparison: {engine.reason}")
    args.slots = args.slots or default_slots()
    args.logs = Path(tempfile.mkdtemp(prefix="bench-embedded-logs-"))
    cores = len(os.sched_getaffinity(0))
    print(
        f"model {args.model}; {cores} cores, {args.threads or cores} threads; llama-server {args.slots} slots; "
        f"load average {os.getloadavg()[0]:.2f}",
        flush=True,
    )
    if args.synth_only:
        for e in ENGINES:
            print(f"  {e}: curate synth textbooks --n {args.synth_n} ...", flush=True)
            wall, note = synth_textbooks(e, args)
            print(f"  {e}: {wall:.0f} s  {note}", flush=True)
        return
    results = {e: run_engine(e, args) for e in ENGINES}
    if not args.no_synth:
        for e in ENGINES:
            print(f"  {e}: curate synth textbooks --n {args.synth_n} ...", flush=True)
            results[e].synth_s, results[e].synth_note = synth_textbooks(e, args)
            print(f"  {e}: {results[e].synth_s:.0f} s  {results[e].synth_note}", flush=True)

    base, new = results["llama-cpp-python"], results["llama-server"]
    rows = []
    for in_flight in args.in_flight:
        b, n = base.writing[in_flight][0], new.writing[in_flight][0]
        rows.append((f"writing, {in_flight} in flight (tok/s)", f"{b:.1f}", f"{n:.1f}", f"{n / b:.2f}x", ">= 1.8x"))
    b, n = base.labelling[0], new.labelling[0]
    label = f"labelling, ~{new.labelling[3]:.0f}-token prompt, 40 out (docs/s)"
    rows.append((label, f"{b:.3f}", f"{n:.3f}", f"{n / b:.2f}x", ">= 1.15x"))
    b, n = base.peak_rss_mb, new.peak_rss_mb
    rows.append(("peak RSS of the server (MB)", f"{b:.0f}", f"{n:.0f}", f"{n / b:.2f}x", "<= 1.00x"))
    rows.append(("startup (s)", f"{base.startup_s:.1f}", f"{new.startup_s:.1f}", "", ""))
    if base.synth_s is not None and new.synth_s is not None:
        b, n = base.synth_s, new.synth_s
        synth = f"curate synth textbooks --n {args.synth_n} (s)"
        rows.append((synth, f"{b:.0f}", f"{n:.0f}", f"{b / n:.2f}x faster", ""))
    header = ("", "llama-cpp-python", f"llama-server -np {new.slots}", "ratio", "goal")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(5)]
    print()
    for row in [header, *rows]:
        print(
            "  ".join(
                str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )
    for e in ENGINES:
        if results[e].synth_note:
            print(f"{e} synth: {results[e].synth_note}")


if __name__ == "__main__":
    main()
