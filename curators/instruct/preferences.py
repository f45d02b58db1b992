"""Preference pairs from the ratings, confirmed by the judge in both orders.

Pairing (pure, `pair_up`): per instruction, chosen = the highest-rated response (ties broken by id);
rejected = the lowest rated (or, with `rejected: random`, a random one rated lower). A margin below
`min_margin` (all responses rated alike) is a `tie`; fewer than two rated responses `too_few_ratings`.
The pairs are written once per run (`preference_pairs`).

Confirmation (a stage on the shared LLM-stage runner, one item per pair, two requests): the judge sees the
pair as A/B with the chosen response first, then with the rejected one first. `swap_consistent` = both
orders prefer the same response; `agrees` = both prefer the chosen one. Status: ok; flipped (the verdict
follows the position: left out of `dpo` unless `require_swap_consistent` is off); contradicted (both orders
prefer the rejected one: left out unless `require_agreement` is off); invalid / failed (the gateway's).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from curators.instruct import store
from curators.instruct.config import PreferencesConfig
from curators.llm.gateway import LLMRequest, LLMResult
from curators.llm.prompts import load_prompt
from curators.llm.runner import LLMStage

MAX_RESPONSE_CHARS = 4000


class PreferenceRun(BaseModel):
    """What a preferences run depends on: its config, the judge model, and the ratings it pairs."""

    preferences: PreferencesConfig
    model: str
    ratings_digest: str


def pair_id(instruction_id: str, chosen_id: str | None, rejected_id: str | None) -> str:
    return hashlib.sha256(f"{instruction_id}\0{chosen_id}\0{rejected_id}".encode()).hexdigest()[:16]


def pair_up(ratings: list[dict[str, Any]], config: PreferencesConfig, judge: str, run_id: str) -> list[dict[str, Any]]:
    """One row per rated instruction: a candidate pair, a tie, or too few ratings (see the module docstring).
    `ratings`: instruction_id, response_id, overall."""
    by_instruction: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for rating in ratings:
        by_instruction[rating["instruction_id"]].append(rating)
    rows = []
    for instruction_id in sorted(by_instruction):
        rated = sorted(by_instruction[instruction_id], key=lambda r: (-r["overall"], r["response_id"]))
        row: dict[str, Any] = {
            "instruction_id": instruction_id,
            "judge": judge,
            "responses_rated": len(rated),
            "chosen_id": None,
            "rejected_id": None,
            "chosen_rating": None,
            "rejected_rating": None,
            "margin": None,
            "run_id": run_id,
        }
        if len(rated) < 2:
            row.update(status="too_few_ratings", reason=f"{len(rated)} rated response; a pair needs two")
        else:
            chosen = rated[0]
            lower = [r for r in rated[1:] if chosen["overall"] - r["overall"] >= config.min_margin]
            if not lower:
                spread = chosen["overall"] - rated[-1]["overall"]
                row.update(status="tie", reason=f"ratings differ by {spread:g} < min_margin {config.min_margin:g}")
            else:
                if config.rejected == "random":
                    rejected = random.Random(f"{config.seed}:{instruction_id}").choice(lower)
                else:
                    rejected = lower[-1]
                row.update(
                    chosen_id=chosen["response_id"],
                    rejected_id=rejected["response_id"],
                    chosen_rating=chosen["overall"],
                    rejected_rating=rejected["overall"],
                    margin=chosen["overall"] - rejected["overall"],
                    status="candidate" if config.confirm else "ok",
                    reason=None,
                )
        row["pair_id"] = pair_id(instruction_id, row["chosen_id"], row["rejected_id"])
        rows.append(row)
    return rows


def plan_pairs(root: Path, run_id: str, config: PreferencesConfig, judge: str) -> list[dict[str, Any]]:
    """The pairs of this run: made once and stored in `preference_pairs`, read back on resume."""
    pairs = store.stored_pairs(root, run_id)
    if pairs is None:
        pairs = pair_up(store.ratings_to_pair(root, judge), config, judge, run_id)
        store.store_pairs(root, run_id, pairs)
    return pairs


class PreferenceStage(LLMStage):
    """The pairwise confirmation of each candidate pair, in both orders (one item, two requests)."""

    name = "instruct-preferences"
    table = "pair_votes"
    config: PreferencesConfig

    def __init__(self, root: Path, run_id: str, config: PreferenceRun, model: str, round: int = 0) -> None:
        self.prompt = load_prompt(config.preferences.prompt)
        super().__init__(run_id, model, config.preferences, (self.prompt.prompt_id,), round)
        self.pairs = [p for p in plan_pairs(root, run_id, config.preferences, model) if p["status"] == "candidate"]
        ids = [i for p in self.pairs for i in (p["chosen_id"], p["rejected_id"])]
        self.texts = store.response_texts(root, ids)
        self.instructions = store.instruction_texts(root, [p["instruction_id"] for p in self.pairs])
        self.by_id = {p["pair_id"]: p for p in self.pairs}
        self.max_tokens = 300
        self.prompt_tokens = 300 + 2 * MAX_RESPONSE_CHARS // 3

    def requests(self) -> list[LLMRequest]:
        requests = []
        for pair in self.pairs:
            chosen = self.texts[pair["chosen_id"]][:MAX_RESPONSE_CHARS]
            rejected = self.texts[pair["rejected_id"]][:MAX_RESPONSE_CHARS]
            instruction = self.instructions[pair["instruction_id"]]
            for sample, (a, b) in enumerate(((chosen, rejected), (rejected, chosen))):
                requests.append(
                    LLMRequest(
                        item_id=pair["pair_id"],
                        messages=self.prompt.render(instruction=instruction, a=a, b=b),
                        params=dict(self.prompt.params),
                        output=self.prompt.output_model,
                        sample=sample,
                        prompt_id=self.prompt.prompt_id,
                    )
                )
        return requests

    def rows(self, result: LLMResult) -> list[dict[str, Any]]:
        raise AssertionError("a pair is asked in two orders: rows_of_item makes its row")

    def rows_of_item(self, results: list[LLMResult]) -> list[dict[str, Any]]:
        first, second = results  # chosen shown as A, then rejected shown as A
        verdicts = [_preferred(first, "A"), _preferred(second, "B")]
        row: dict[str, Any] = {
            "pair_id": first.item_id,
            "chosen_first": verdicts[0],
            "rejected_first": verdicts[1],
            "judge": first.model,
            "prompt_id": first.prompt_id,
            "tokens_in": first.tokens_in + second.tokens_in,
            "tokens_out": first.tokens_out + second.tokens_out,
            "cost_usd": first.cost_usd + second.cost_usd,
            "cached": first.cached and second.cached,
            "cache_keys": json.dumps([first.key, second.key]),
            "run_id": self.run_id,
            "swap_consistent": None,
            "agrees": None,
        }
        failed = [r for r in results if r.status != "ok"]
        if failed:
            worst = "failed" if any(r.status == "failed" for r in failed) else "invalid"
            row.update(status=worst, reason="; ".join(f"{r.error}" for r in failed))
            return [row]
        consistent = verdicts[0] == verdicts[1]
        agrees = consistent and verdicts[0] == "chosen"
        row.update(swap_consistent=consistent, agrees=agrees)
        if not consistent:
            status = "ok" if not self.config.require_swap_consistent else "flipped"
            reason = f"the verdict follows the position (chosen first: {verdicts[0]}; rejected first: {verdicts[1]})"
        elif not agrees:
            status = "ok" if not self.config.require_agreement else "contradicted"
            reason = "both orders prefer the lower-rated response"
        else:
            status, reason = "ok", None
        row.update(status=status, reason=reason)
        return [row]


def _preferred(result: LLMResult, chosen_letter: str) -> str | None:
    """Which response a verdict prefers, when the chosen one was shown as `chosen_letter`."""
    if result.status != "ok" or not result.parsed:
        return None
    return "chosen" if result.parsed.get("better") == chosen_letter else "rejected"
