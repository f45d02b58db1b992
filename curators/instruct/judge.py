"""Ratings of the responses, a stage on the shared LLM-stage runner: UltraFeedback's four aspects
(instruction following, helpfulness, honesty, truthfulness), 1-5 each, with a rationale, asked as JSON
through the gateway (range enforced, re-asked on a bad answer). An answer that never validates is a row with
status `invalid` and the judge's raw answer; a request that failed is `failed` - never a silent None or 0
(distilabel #864). `overall` is the mean of the four aspects (Argilla's fix of UltraFeedback's overall_score).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from curators.instruct import store
from curators.instruct.config import JudgeConfig
from curators.llm.gateway import LLMRequest, LLMResult
from curators.llm.prompts import load_prompt
from curators.llm.runner import LLMStage

ASPECTS = ("instruction_following", "helpfulness", "honesty", "truthfulness")
MAX_RESPONSE_CHARS = 6000


class JudgeRun(BaseModel):
    """What a judge run depends on: its config, the judge model, and the responses it rates."""

    judge: JudgeConfig
    model: str
    responses_digest: str


def overall(parsed: dict[str, Any]) -> float:
    return sum(int(parsed[a]) for a in ASPECTS) / len(ASPECTS)


class JudgeStage(LLMStage):
    name = "instruct-judge"
    table = "ratings"
    config: JudgeConfig

    def __init__(self, root: Path, run_id: str, config: JudgeRun, model: str, round: int = 0) -> None:
        self.prompt = load_prompt(config.judge.prompt)
        super().__init__(run_id, model, config.judge, (self.prompt.prompt_id,), round)
        self.responses = {r["id"]: r for r in store.responses_to_rate(root)}
        self.max_tokens = self.config.max_tokens
        self.prompt_tokens = 300 + max(
            (
                min(len(r["text"]), MAX_RESPONSE_CHARS) // 3 + len(r["instruction"]) // 3
                for r in self.responses.values()
            ),
            default=0,
        )

    def requests(self) -> list[LLMRequest]:
        return [
            LLMRequest(
                item_id=r["id"],
                messages=self.prompt.render(instruction=r["instruction"], response=r["text"][:MAX_RESPONSE_CHARS]),
                params={**self.prompt.params, "max_tokens": self.max_tokens},
                output=self.prompt.output_model,
                prompt_id=self.prompt.prompt_id,
            )
            for r in self.responses.values()
        ]

    def rows(self, result: LLMResult) -> list[dict[str, Any]]:
        response = self.responses[result.item_id]
        parsed = result.parsed if result.status == "ok" else None
        return [
            {
                "response_id": result.item_id,
                "instruction_id": response["instruction_id"],
                "judge": result.model,
                **{a: (int(parsed[a]) if parsed else None) for a in ASPECTS},
                "overall": overall(parsed) if parsed else None,
                "rationale": parsed.get("rationale") if parsed else None,
                "status": result.status,
                "reason": result.error,
                "raw": None if parsed else result.raw,
                "prompt_id": result.prompt_id,
                "model": result.model,
                "params": json.dumps(self.prompt.params, sort_keys=True),
                "tokens_in": result.tokens_in,
                "tokens_out": result.tokens_out,
                "cost_usd": result.cost_usd,
                "cached": result.cached,
                "cache_key": result.key,
                "run_id": self.run_id,
            }
        ]
