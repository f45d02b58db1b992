"""How reliable is the embedded model as a judge? Parse rate, position flips, ties.

K packaged seed tasks are the instructions; the real response stage answers each `--per-instruction` times
(principles and temperatures in turn); the real judge stage rates every response (JSON, range enforced,
re-asked); the real preference stage pairs them and asks the judge A-vs-B and B-vs-A. Printed:
  parse rate      ratings that validated (first try, and after re-asks) / responses rated
  ties            rated instructions whose best and worst rating differ by < min_margin
  position flips  confirmed pairs whose verdict follows the position / pairs asked in both orders
  contradicted    pairs both orders prefer the lower-rated response

    .venv/bin/python benchmarks/judge_reliability.py --k 12 [--model smollm2-135m-instruct-q4_1]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from curators.instruct.config import JudgeConfig, PreferencesConfig, ResponsesConfig
from curators.instruct.judge import JudgeRun, JudgeStage
from curators.instruct.preferences import PreferenceRun, PreferenceStage
from curators.instruct.responses import ResponseRun, ResponseStage
from curators.instruct.seed_tasks import load_seed_tasks
from curators.llm.config import LLMConfig
from curators.llm.gateway import Endpoint
from curators.llm.local_server import DEFAULT_MODEL, local_alias, running_server
from curators.llm.runner import run_stage
from warehouse.catalog import query, refresh_views
from warehouse.shards import write_run_rows


def seed_instructions(root: Path, k: int) -> None:
    rows = [
        {
            "id": hashlib.sha256(t.text.encode()).hexdigest()[:16],
            "method": "seed",
            "seed_id": t.id,
            "text": t.text,
            "status": "ok",
            "run_id": "seeds",
        }
        for t in load_seed_tasks()[::7][:k]  # spread over the kinds and subjects
    ]
    write_run_rows(root, "instructions", "seeds", rows)
    refresh_views(root)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, default=12, help="Instructions (packaged seed tasks).")
    parser.add_argument("--per-instruction", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=160, help="Longest response.")
    parser.add_argument("--model", default=DEFAULT_MODEL, help="Embedded model (packaged name or .gguf).")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="judge-reliability-"))
    seed_instructions(root, args.k)
    llm = LLMConfig()
    started = time.monotonic()
    with running_server(args.model, n_ctx=4096) as server:
        model = local_alias(args.model)
        endpoint = Endpoint(server.base_url, model, local=True)
        responses = ResponseRun(
            responses=ResponsesConfig(per_instruction=args.per_instruction, max_tokens=args.max_tokens),
            model=model,
            instructions_digest="bench",
        )
        run_stage(root, "resp", ResponseStage(root, "resp", responses, model), llm, endpoint)
        judged = run_stage(
            root,
            "judge",
            JudgeStage(root, "judge", JudgeRun(judge=JudgeConfig(), model=model, responses_digest="b"), model),
            llm,
            endpoint,
        )
        pairs = PreferenceRun(preferences=PreferencesConfig(), model=model, ratings_digest="bench")
        voted = run_stage(root, "prefs", PreferenceStage(root, "prefs", pairs, model), llm, endpoint)
    refresh_views(root)  # the pairs are written before any vote: show them even when no pair was asked
    _, first = query(
        root, "SELECT count(*) FROM llm_responses WHERE prompt_id LIKE 'judge@%' AND status = 'ok' AND reasks = 0"
    )
    _, pair_rows = query(root, "SELECT status, count(*) FROM preference_pairs_all GROUP BY 1")
    pair_status = dict(pair_rows)
    _, vote_rows = query(root, "SELECT status, count(*) FROM pair_votes_all GROUP BY 1")
    votes = dict(vote_rows)
    rated = judged.requested
    asked = sum(votes.values())
    rated_instructions = sum(pair_status.values())

    def share(count: int, total: int) -> str:
        return f"{count}/{total} = {count / max(1, total):.3f}"

    seconds = time.monotonic() - started
    print(f"model {args.model}: {args.k} instructions x {args.per_instruction} responses, {seconds:.0f} s")
    print(f"responses rated            {rated}")
    print(f"parse rate, first try      {share(first[0][0], rated)}")
    print(f"parse rate, after re-asks  {share(judged.ok, rated)} (invalid {judged.invalid}, failed {judged.failed})")
    print(f"ties                       {share(pair_status.get('tie', 0), rated_instructions)} rated instructions")
    print(f"position flips             {share(votes.get('flipped', 0), asked)} pairs asked in both orders")
    print(f"contradicted               {share(votes.get('contradicted', 0), asked)}")
    print(f"confirmed (ok)             {share(votes.get('ok', 0), asked)}; pairwise requests {voted.http_requests}")


if __name__ == "__main__":
    main()
