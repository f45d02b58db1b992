"""Responses to the usable instructions, a stage on the shared LLM-stage runner (UltraFeedback's recipe):
`per_instruction` responses each, the k-th under principle k and temperature k (in turn), so that one
instruction gets answers of different quality to choose from. A grounded instruction's response sees its
source document as a reference. One item per instruction, one request per response.

Statuses: ok; truncated (cut at max_tokens); apology (only a short apology or refusal: WizardLM's
elimination rule); empty; invalid / failed (the gateway's outcome).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from curators.instruct import store
from curators.instruct.checks import is_apology
from curators.instruct.config import ResponsesConfig
from curators.llm.gateway import LLMRequest, LLMResult
from curators.llm.prompts import load_prompt
from curators.llm.runner import LLMStage

# UltraFeedback's principles, as system messages.
PRINCIPLES = {
    "helpfulness": "You are a helpful assistant. Give accurate, relevant and complete information, and make the "
    "answer engaging and educational.",
    "honesty": "You are an honest assistant. Say whether you know the answer, express uncertainty explicitly, "
    "be confident on what you know well and modest on what you do not.",
    "truthfulness": "You are a truthful assistant. Stay faithful to facts and to the given context, and never "
    "make up facts that are not true or cannot be grounded in the question.",
    "verbalized_calibration": "You are a careful assistant. Answer, then state your confidence in the answer as "
    "a percentage at the end, e.g. 'Confidence: 80%'.",
}
MAX_CONTEXT_CHARS = 2500


class ResponseRun(BaseModel):
    """What a responses run depends on: its config, the model, and the instructions it answers. With several
    models, a run per model writes the responses k with k mod `models` = `model_index`."""

    responses: ResponsesConfig
    model: str
    instructions_digest: str
    model_index: int = 0
    models: int = 1


def response_id(instruction_id: str, model: str, principle: str, temperature: float, k: int) -> str:
    return hashlib.sha256(f"{instruction_id}\0{model}\0{principle}\0{temperature}\0{k}".encode()).hexdigest()[:16]


def principle_text(name: str) -> str:
    return PRINCIPLES.get(name, name)  # a name not known is taken as the system message itself


class ResponseStage(LLMStage):
    name = "instruct-responses"
    table = "responses"
    config: ResponsesConfig

    def __init__(self, root: Path, run_id: str, config: ResponseRun, model: str, round: int = 0) -> None:
        self.prompt = load_prompt(config.responses.prompt)
        super().__init__(run_id, model, config.responses, (self.prompt.prompt_id,), round)
        self.mine = [k for k in range(config.responses.per_instruction) if k % config.models == config.model_index]
        self.instructions = store.usable_instructions(root, limit=self.config.max_instructions)
        grounded = [i["seed_id"] for i in self.instructions if i["method"] == "grounded"]
        self.context = store.texts_by_id(root, grounded)
        self.by_id = {i["id"]: i for i in self.instructions}
        self.max_tokens = self.config.max_tokens
        self.prompt_tokens = MAX_CONTEXT_CHARS // 3 + max((len(i["text"]) // 3 for i in self.instructions), default=0)

    def plan_of(self, k: int) -> tuple[str, float]:
        principles, temperatures = self.config.principles or ["helpfulness"], self.config.temperatures
        return principles[k % len(principles)], temperatures[k % len(temperatures)]

    def requests(self) -> list[LLMRequest]:
        requests = []
        for instruction in self.instructions:
            context = ""
            if instruction["method"] == "grounded":
                from curators.synth.exercises import cut_passage

                context = cut_passage(self.context.get(instruction["seed_id"]) or "", MAX_CONTEXT_CHARS)
            for k in self.mine:
                principle, temperature = self.plan_of(k)
                messages = self.prompt.render(
                    principle=principle_text(principle), instruction=instruction["text"], context=context
                )
                requests.append(
                    LLMRequest(
                        item_id=instruction["id"],
                        messages=messages,
                        params={"temperature": temperature, "max_tokens": self.max_tokens, "seed": k},
                        sample=k,
                        prompt_id=self.prompt.prompt_id,
                        accept_cut=True,
                    )
                )
        return requests

    def rows(self, result: LLMResult) -> list[dict[str, Any]]:
        k = result.sample
        principle, temperature = self.plan_of(k)
        text = (result.raw or "").strip() if result.status == "ok" else ""
        status, reason = result.status, result.error
        if status == "ok":
            if not text:
                status, reason, text = "empty", "the answer was empty", ""
            elif result.finish_reason == "length":
                status, reason = "truncated", f"cut at max_tokens {self.max_tokens}"
            elif is_apology(text):
                status, reason = "apology", "only an apology or a refusal"
        return [
            {
                "id": response_id(result.item_id, result.model, principle, temperature, k),
                "instruction_id": result.item_id,
                "principle": principle,
                "temperature": temperature,
                "text": text,
                "status": status,
                "reason": reason,
                "n_chars": len(text),
                "prompt_id": result.prompt_id,
                "model": result.model,
                "params": json.dumps({"temperature": temperature, "max_tokens": self.max_tokens, "seed": k}),
                "tokens_in": result.tokens_in,
                "tokens_out": result.tokens_out,
                "cost_usd": result.cost_usd,
                "cached": result.cached,
                "cache_key": result.key,
                "run_id": self.run_id,
            }
        ]
