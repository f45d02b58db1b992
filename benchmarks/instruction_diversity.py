"""How diverse are the instructions each method writes, at the same count, with the embedded model?

Three conditions, each a fresh warehouse under --out, each run through the real stages (the shared runner,
the embedded llama.cpp server):
  self-instruct            seed tasks shown (6 seed + 2 generated), the ROUGE-L > 0.7 pool filter on
  self-instruct, unseeded  no examples shown, no pool filter (what a plain "write N tasks" prompt gives)
  magpie                   the model's chat-template prefix up to the user turn

For the first N usable instructions of each (N = the smallest count), it prints: the histogram of each
instruction's highest ROUGE-L F with the ones before it, distinct-1/2/3, the near-duplicate rate (word
5-gram Jaccard >= the dedup threshold with another), the share whose embedding nearest neighbour has cosine
>= 0.9 (the packaged MiniLM), and the share of the most common first-3-word opening.

    .venv/bin/python benchmarks/instruction_diversity.py --n 48 [--model smollm2-135m-instruct-q4_1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np

from curators.dedup.config import DedupConfig
from curators.dedup.minhash import jaccard, shingle_set
from curators.filter.config import EmbedConfig
from curators.filter.embed import get_embedder
from curators.instruct.checks import RougePool
from curators.instruct.config import InstructionChecks, InstructionsConfig, SelfInstructConfig
from curators.instruct.instructions import STAGES, InstructionRun
from curators.llm.chat_template import template_of_gguf, user_turn_prefix
from curators.llm.config import LLMConfig
from curators.llm.gateway import Endpoint
from curators.llm.local_server import DEFAULT_MODEL, local_alias, resolve_model, running_server
from curators.llm.runner import run_stage
from curators.synth.diversity import _distinct_n, nearest_neighbour_cosines
from warehouse.catalog import query


def conditions(n: int) -> dict[str, tuple[str, InstructionsConfig]]:
    seeded = SelfInstructConfig(per_request=8, rounds=2)
    unseeded = SelfInstructConfig(per_request=8, rounds=1, seed_examples=0, generated_examples=0)
    return {
        "self-instruct": ("self-instruct", InstructionsConfig(n=n, self_instruct=seeded)),
        "self-instruct, unseeded": (
            "self-instruct",
            InstructionsConfig(n=n, self_instruct=unseeded, checks=InstructionChecks(rouge_l=1.0)),
        ),
        "magpie": ("magpie", InstructionsConfig(n=n)),
    }


def generate(
    root: Path, method: str, config: InstructionsConfig, endpoint: Endpoint, prefix: str, stop: list[str]
) -> list[str]:
    run = InstructionRun(
        method=method, instructions=config, model=endpoint.model, magpie_prefix=prefix, magpie_stop=stop
    )
    stage = STAGES[method](root, "bench", run, endpoint.model)
    for round in range(stage.rounds):
        if round:
            stage = STAGES[method](root, "bench", run, endpoint.model, round=round)
        run_stage(root, "bench", stage, LLMConfig(), endpoint)
    _, rows = query(root, "SELECT text FROM instructions WHERE status = 'ok' ORDER BY round, seed_id, id")
    return [r[0] for r in rows]


def measures(texts: list[str], embed: EmbedConfig, dedup: DedupConfig) -> dict[str, object]:
    pool = RougePool(threshold=1.0)
    best = []
    for i, text in enumerate(texts):
        best.append(pool.closest(text)[0])
        pool.add(str(i), text)
    hist = np.histogram(best[1:], bins=[0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0001])[0]
    _, distinct = _distinct_n(texts, 10**9)
    sets = [shingle_set(t, dedup.minhash) for t in texts]
    near = sum(
        any(j != i and jaccard(sets[i], sets[j]) >= dedup.minhash.threshold for j in range(len(texts)))
        for i in range(len(texts))
    )
    vectors = get_embedder(embed).encode(texts)
    nn = nearest_neighbour_cosines(vectors)
    openings = Counter(" ".join(t.lower().split()[:3]) for t in texts)
    top, count = openings.most_common(1)[0]
    return {
        "rouge_hist": hist.tolist(),
        "rouge_mean": float(np.mean(best[1:])),
        "rouge_gt_0.7": float(np.mean(np.array(best[1:]) > 0.7)),
        "distinct": (distinct[1], distinct[2], distinct[3]),
        "near_dup": near / len(texts),
        "nn_ge_0.9": float(np.mean(nn >= 0.9)),
        "top_opening": (top, count / len(texts)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=48, help="Instructions asked for per condition.")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Embedded model (packaged name or .gguf).")
    parser.add_argument("--out", type=Path, default=None, help="Where the warehouses go (default: a temp dir).")
    parser.add_argument("--min-usable", type=int, default=10, help="Conditions with fewer are not the yardstick.")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="instruction-diversity-"))
    turn = user_turn_prefix(template_of_gguf(resolve_model(args.model)), "You are a helpful assistant.")
    found: dict[str, list[str]] = {}
    seconds: dict[str, float] = {}
    with running_server(args.model, n_ctx=4096) as server:
        endpoint = Endpoint(server.base_url, local_alias(args.model), local=True)
        for name, (method, config) in conditions(args.n).items():
            started = time.monotonic()
            root = out / name.replace(", ", "-").replace(" ", "-")
            found[name] = generate(root, method, config, endpoint, turn.prefix, list(turn.stop))
            seconds[name] = time.monotonic() - started
    # Compared at the same count: the smallest of the conditions that kept at least --min-usable (a condition
    # below it is shown on all it kept, and marked).
    enough = [len(t) for t in found.values() if len(t) >= args.min_usable]
    n = min(enough) if enough else min(len(t) for t in found.values())
    print(f"model {args.model}; asked {args.n} per condition; compared on the first {n} usable of each\n")
    header = (
        f"{'condition':<26}{'usable':>7}{'s':>6}  {'ROUGE-L max: <.2 .2 .4 .5 .6 .7 .8+':<36}{'mean':>6}{'>0.7':>6}"
    )
    header += f"{'d-1':>6}{'d-2':>6}{'d-3':>6}{'ndup':>6}{'nn.9':>6}  top opening"
    print(header)
    embed, dedup = EmbedConfig(), DedupConfig()
    for name, texts in found.items():
        if len(texts) < 2:
            print(f"{name:<26}{len(texts):>7}{seconds[name]:>6.0f}  (too few usable to measure)")
            continue
        m = measures(texts[:n], embed, dedup)
        took = seconds[name]
        if len(texts) < n:
            name += " *"
        d1, d2, d3 = m["distinct"]
        top, share = m["top_opening"]
        print(
            f"{name:<26}{len(texts):>7}{took:>6.0f}  {' '.join(f'{c:>3}' for c in m['rouge_hist']):<36}"
            f"{m['rouge_mean']:>6.2f}{m['rouge_gt_0.7']:>6.2f}{d1:>6.2f}{d2:>6.2f}{d3:>6.2f}{m['near_dup']:>6.2f}"
            f"{m['nn_ge_0.9']:>6.2f}  {share:.2f} {top!r}"
        )

    print("\n* fewer usable than the others: measured on all it kept")
    for name in found:
        _, rows = query(
            out / name.replace(", ", "-").replace(" ", "-"),
            "SELECT status, count(*) FROM instructions GROUP BY 1 ORDER BY 2 DESC",
        )
        print(f"  {name}: " + ", ".join(f"{s} {c}" for s, c in rows))


if __name__ == "__main__":
    main()
