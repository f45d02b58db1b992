"""Seeding ablation: the same number of generations from one plain prompt vs from the full seed axes
(topic x audience x style x persona x vocabulary), same model, same sampling and length; every
diversity metric side by side (curators/synth/diversity.py), near-duplicates by the dedup stage.

Runs the embedded llama.cpp endpoint (default: the small test model, for speed; --model for another
packaged model) with the response cache off, so each run samples afresh.

    .venv/bin/python benchmarks/seeding_ablation.py [--n 40] [--max-tokens 256] [--model NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from curators.config import DedupConfig, DiversityConfig, EmbedConfig, LLMConfig, SeedConfig, TextbookConfig  # noqa: E402
from curators.dedup.clusters import find_duplicates  # noqa: E402
from curators.filter.embed import get_embedder  # noqa: E402
from curators.llm.gateway import Endpoint, Gateway, LLMRequest  # noqa: E402
from curators.llm.local_server import TEST_MODEL, running_server  # noqa: E402
from curators.llm.prompts import load_prompt  # noqa: E402
from curators.synth.axes import load_axes  # noqa: E402
from curators.synth.diversity import GenerationItem, diversity_metrics  # noqa: E402
from curators.synth.seeds import sample_seeds  # noqa: E402
from curators.synth.textbooks import strip_opening, textbook_request  # noqa: E402

PLAIN_PROMPT = "Write a passage of an educational textbook that teaches something useful."
METRICS = [
    ("near_dup_rate", "near-duplicates (share)", "{:.2%}"),
    ("top1_opening_share", "most common 4-word opening (share)", "{:.2%}"),
    ("top10_opening_share", "10 most common openings (share)", "{:.2%}"),
    ("distinct_1", "distinct-1", "{:.3f}"),
    ("distinct_2", "distinct-2", "{:.3f}"),
    ("distinct_3", "distinct-3", "{:.3f}"),
    ("compression_ratio", "compression ratio (higher = more repetitive)", "{:.2f}"),
    ("nn_cos_ge_share", "nearest neighbour cosine >= 0.9 (share)", "{:.2%}"),
    ("mean_nn_cosine", "mean nearest-neighbour cosine", "{:.3f}"),
    ("tokens_out_mean", "tokens out per generation", "{:.0f}"),
]


def generate(endpoint: Endpoint, requests: list[LLMRequest]) -> list[tuple[str, int]]:
    llm = LLMConfig(max_reasks=0, concurrency=1)
    gateway = Gateway(endpoint, llm, cache=None)
    results = {}
    asyncio.run(gateway.run(requests, lambda r: results.__setitem__(r.item_id, r)))
    out = []
    for request in requests:
        r = results[request.item_id]
        text = strip_opening(r.raw or "")[0] if r.status == "ok" else ""
        out.append((text, r.tokens_out))
    return out


def measure(name: str, generations: list[tuple[str, int]], axes: list[dict[str, str]], tokens: int) -> dict:
    ids = [f"{name}-{i}" for i in range(len(generations))]
    texts = [t for t, _ in generations]
    found = find_duplicates(ids, texts, DedupConfig())
    dup_ids = {d.id for d in found.dups}
    vectors = get_embedder(EmbedConfig()).encode(texts)
    items = [
        GenerationItem(id=i, text=t, tokens_out=n, axes=a) for i, (t, n), a in zip(ids, generations, axes, strict=True)
    ]
    config = DiversityConfig(distinct_tokens=tokens)
    return diversity_metrics(items, config, embeddings=np.asarray(vectors), near_dup_ids=dup_ids)


def _cell(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=40, help="generations per variant")
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--model", default=TEST_MODEL)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    prompt = load_prompt("textbook")
    params = {**prompt.params, "max_tokens": args.max_tokens}
    axes = load_axes()
    seeds = sample_seeds(SeedConfig(n=args.n, seed=args.seed), axes)
    seeded = [textbook_request(s, axes, prompt, TextbookConfig(max_tokens=args.max_tokens)) for s in seeds]
    plain = [
        LLMRequest(item_id=f"plain-{i}", messages=[{"role": "user", "content": PLAIN_PROMPT}], params=params, sample=i)
        for i in range(args.n)
    ]
    for r in seeded:
        r.accept_cut = True
    for r in plain:
        r.accept_cut = True
    with tempfile.TemporaryDirectory() as tmp, running_server(args.model, n_ctx=2048, log_dir=Path(tmp)) as server:
        endpoint = Endpoint(base_url=server.base_url, model=server.model, local=True)
        started = time.monotonic()
        plain_out = generate(endpoint, plain)
        plain_s = time.monotonic() - started
        started = time.monotonic()
        seeded_out = generate(endpoint, seeded)
        seeded_s = time.monotonic() - started
    # distinct-n falls with length: both variants are measured on the same number of words.
    words = min(sum(len(t.split()) for t, _ in out) for out in (plain_out, seeded_out))
    plain_m = measure("plain", plain_out, [{} for _ in plain_out], words)
    axes_of = [{"audience": s.audience or "", "style": s.style or ""} for s in seeds]
    seeded_m = measure("seeded", seeded_out, axes_of, words)

    print(
        f"model {args.model}; {args.n} generations per variant; temperature {params.get('temperature')}, "
        f"top_p {params.get('top_p')}, max_tokens {args.max_tokens}; generation time: plain {plain_s:.0f}s, "
        f"seeded {seeded_s:.0f}s; distinct-n over the first {plain_m['distinct_tokens']:,} words of each\n"
    )
    print(f"{'metric':<46} {'plain prompt':>14} {'seed axes':>14}   better")
    for key, label, fmt in METRICS:
        a, b = plain_m.get(key), seeded_m.get(key)
        lower_better = key not in ("distinct_1", "distinct_2", "distinct_3")
        better = "" if a is None or b is None or a == b else ("seed axes" if (b < a) == lower_better else "plain")
        if key == "tokens_out_mean":
            better = ""
        print(f"{label:<46} {_cell(a, fmt):>14} {_cell(b, fmt):>14}   {better}")
    print(f"\nmost common opening: plain {plain_m['top1_opening']!r}; seeded {seeded_m['top1_opening']!r}")


if __name__ == "__main__":
    main()
