"""Exercises with worked solutions, written from each ok textbook of a textbook run (phi-1's CodeExercises
idea): a stage on the shared LLM-stage runner.

For each textbook, one request for `per_textbook` exercises (JSON, schema `Exercises`); each exercise
becomes a `generations` row (task = exercise, parent_id = the textbook). Programming subjects ask for a
function signature + docstring and a solution. A request that fails, or answers no exercise, is one row
with its status and reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from curators.llm.gateway import LLMRequest, LLMResult
from curators.llm.prompts import Prompt, load_prompt
from curators.llm.runner import LLMStage
from curators.synth import store
from curators.synth.config import ExercisesConfig
from curators.synth.seeds import Seed
from curators.synth.textbooks import base_row, generation_id, is_programming, sampling_params

PROMPT_OVERHEAD_TOKENS = 300
CHARS_PER_TOKEN = 3  # textbook text is sent; code packs more tokens per character
DEFAULT_MAX_TOKENS = 1200


class ExerciseRun(BaseModel):
    """What an exercises run depends on: its config, the textbook run it reads, and the model."""

    exercises: ExercisesConfig
    textbook_run_id: str
    model: str


def cut_passage(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    cut = text[:max_chars]
    para = cut.rfind("\n\n", max_chars // 2)
    return cut[:para] if para > 0 else cut


def exercises_request(textbook: dict[str, Any], seed: Seed, prompt: Prompt, config: ExercisesConfig) -> LLMRequest:
    messages = prompt.render(
        text=cut_passage(textbook["text"], config.max_textbook_chars),
        topic=seed.subtopic or seed.topic or "",
        n=config.per_textbook,
        programming=is_programming(seed),
    )
    return LLMRequest(
        item_id=textbook["id"],
        messages=messages,
        params=sampling_params(prompt, config.max_tokens),
        output=prompt.output_model,
        prompt_id=prompt.prompt_id,
    )


def format_exercise(exercise: dict[str, Any]) -> str:
    parts = [f"Exercise: {exercise['question'].strip()}"]
    if exercise.get("signature"):
        parts.append(
            exercise["signature"].strip()
            + (f'\n    """{exercise["docstring"].strip()}"""' if exercise.get("docstring") else "")
        )
    parts.append(f"Solution:\n{exercise['solution'].strip()}")
    return "\n\n".join(parts)


def exercise_rows(result: LLMResult, textbook: dict[str, Any], run_id: str, params: dict) -> list[dict[str, Any]]:
    base = base_row(result, run_id, params)
    common = {"task": "exercise", "seed_id": textbook["seed_id"], "parent_id": textbook["id"], "stripped_opening": None}
    if result.status != "ok" or not result.parsed:
        return [
            {
                **base,
                **common,
                "id": generation_id("exercise", textbook["id"], result.prompt_id or "", result.model, -1),
                "text": "",
                "status": result.status if result.status != "ok" else "invalid",
                "reason": result.error or "no exercises in the answer",
                "meta": None,
                "n_chars": 0,
            }
        ]
    rows = []
    exercises = result.parsed.get("exercises") or []
    share = 1 / len(exercises)  # the request's tokens and cost, spread over its exercises
    for index, exercise in enumerate(exercises):
        text = format_exercise(exercise)
        rows.append(
            {
                **base,
                **common,
                "id": generation_id("exercise", textbook["id"], result.prompt_id or "", result.model, index),
                "text": text,
                "status": "ok",
                "reason": None,
                "meta": json.dumps({"index": index, **exercise}, ensure_ascii=False),
                "n_chars": len(text),
                "tokens_in": round(result.tokens_in * share),
                "tokens_out": round(result.tokens_out * share),
                "cost_usd": result.cost_usd * share,
            }
        )
    return rows


class ExerciseStage(LLMStage):
    """Exercises on the LLM-stage runner: one request per ok textbook of the textbook run."""

    name = "synth-exercises"
    table = "generations"

    config: ExercisesConfig

    def __init__(self, root: Path, run_id: str, config: ExerciseRun, model: str) -> None:
        self.prompt = load_prompt(config.exercises.prompt)
        super().__init__(run_id, model, config.exercises, (self.prompt.prompt_id,))
        seeds = {s.seed_id: s for s in store.stored_seeds(root, config.textbook_run_id) or []}
        self.textbooks = {
            t["id"]: (t, seeds[t["seed_id"]])
            for t in store.textbooks_of_run(root, config.textbook_run_id)
            if t["seed_id"] in seeds
        }
        self.params = sampling_params(self.prompt, self.config.max_tokens)
        self.prompt_tokens = self.config.max_textbook_chars // CHARS_PER_TOKEN + PROMPT_OVERHEAD_TOKENS
        self.max_tokens = self.config.max_tokens or DEFAULT_MAX_TOKENS

    def requests(self) -> list[LLMRequest]:
        return [exercises_request(t, seed, self.prompt, self.config) for t, seed in self.textbooks.values()]

    def rows(self, result: LLMResult) -> list[dict[str, Any]]:
        return exercise_rows(result, self.textbooks[result.item_id][0], self.run_id, self.params)
