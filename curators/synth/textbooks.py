"""Synthetic textbooks from diversity seeds: a stage on the shared LLM-stage runner.

A run draws its seeds once (`seeds` table; read back on resume), then asks one generation per seed
(cached: a rerun pays for nothing it already has; cost-accounted per row). Rows go to `generations`,
a batch per shard with its done-marker.

Post-processing, each outcome a `status` with a `reason`, never a silent drop:
- ok: kept; a boilerplate opening (assistant chatter such as "Sure! Here is...", a "Title:" line,
  "Once upon a time", "In today's world", "Welcome to...") is removed and kept in `stripped_opening`.
- truncated: the model stopped at the token limit (finish_reason = length): the text is cut mid-way.
- too_short: fewer than `min_chars` characters after post-processing.
- invalid / failed: the gateway's outcome (an answer that never parsed; no answer).
Only ok rows carry `text`; every answer stays readable in `llm_responses` through `cache_key`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from curators.llm.config import LLMConfig
from curators.llm.gateway import Endpoint, GatewayStats, LLMRequest, LLMResult
from curators.llm.prompts import Prompt, load_prompt
from curators.llm.runner import LLMStage, LLMStageSummary, run_stage
from curators.synth import store
from curators.synth.axes import Axes, load_axes
from curators.synth.config import SeedConfig, TextbookConfig
from curators.synth.seeds import Seed, seed_prompt_fields

PROMPT_TOKENS = 1200  # the seed's fields and the instructions around them
DEFAULT_MAX_TOKENS = 1024

PROGRAMMING_SUBJECTS = {"computer science", "programming", "software engineering", "data science"}

# Openings removed from the start of a generation, tried in order, at most three times.
BOILERPLATE_OPENINGS = [
    re.compile(r"(?:sure|certainly|of course|absolutely|great|okay)[!,.][^\n]*\n+", re.I),
    re.compile(r"here(?:'s| is| are) (?:a|an|the|your|some)\b[^\n]*:[ \t]*\n+", re.I),
    re.compile(r"(?:i'm|i am|i'd be) (?:ready|happy|glad|delighted) to\b[^\n.!]*[.!:]\s+", re.I),
    re.compile(r"(?:#+\s*)?title\s*:[^\n]*\n+", re.I),
    re.compile(r"once upon a time,?\s+", re.I),
    re.compile(r"in today's (?:fast-paced |digital |modern )?world,?\s+", re.I),
    re.compile(r"(?:welcome to|have you ever wondered)\b[^.!?\n]*[.!?]\s+", re.I),
]


def strip_opening(text: str) -> tuple[str, str | None]:
    """`text` without boilerplate openings, and what was removed (None when nothing)."""
    removed = []
    text = text.strip()
    for _ in range(3):
        for pattern in BOILERPLATE_OPENINGS:
            match = pattern.match(text)
            if match:
                removed.append(match.group(0).strip())
                text = text[match.end() :].lstrip()
                break
        else:
            break
    if removed and text and text[0].islower():
        text = text[0].upper() + text[1:]
    return text, (" | ".join(removed) if removed else None)


def generation_id(task: str, key: str, prompt_id: str, model: str, index: int = 0) -> str:
    return hashlib.sha256(f"{task}\0{key}\0{prompt_id}\0{model}\0{index}".encode()).hexdigest()[:16]


def is_programming(seed: Seed) -> bool:
    return (seed.subject or "").strip().lower() in PROGRAMMING_SUBJECTS


def sampling_params(prompt: Prompt, max_tokens: int | None, temperature: float | None = None) -> dict[str, Any]:
    params = dict(prompt.params)
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    if temperature is not None:
        params["temperature"] = temperature
    return params


def textbook_request(seed: Seed, axes: Axes, prompt: Prompt, config: TextbookConfig) -> LLMRequest:
    messages = prompt.render(**seed_prompt_fields(seed, axes))
    return LLMRequest(
        item_id=seed.seed_id,
        messages=messages,
        params=sampling_params(prompt, config.max_tokens, config.temperature),
        prompt_id=prompt.prompt_id,
        accept_cut=True,
    )


def base_row(result: LLMResult, run_id: str, params: dict[str, Any]) -> dict[str, Any]:
    return {
        "prompt_id": result.prompt_id,
        "model": result.model,
        "params": json.dumps(params, sort_keys=True),
        "tokens_in": result.tokens_in,
        "tokens_out": result.tokens_out,
        "cost_usd": result.cost_usd,
        "cached": result.cached,
        "cache_key": result.key,
        "run_id": run_id,
    }


def textbook_row(result: LLMResult, seed: Seed, config: TextbookConfig, run_id: str, params: dict) -> dict[str, Any]:
    row = base_row(result, run_id, params)
    row.update(
        id=generation_id("textbook", seed.seed_id, result.prompt_id or "", result.model),
        task="textbook",
        seed_id=seed.seed_id,
        parent_id=None,
        text="",
        status=result.status,
        reason=result.error,
        stripped_opening=None,
        meta=None,
        n_chars=0,
    )
    if result.status != "ok":
        return row
    text, stripped = strip_opening(result.raw or "") if config.strip_openings else ((result.raw or "").strip(), None)
    row["stripped_opening"] = stripped
    row["n_chars"] = len(text)
    if result.finish_reason == "length":
        limit = f"stopped at the token limit ({params.get('max_tokens')} tokens)"
        if not config.trim_truncated:
            row.update(status="truncated", reason=limit)
            return row
        text = trim_to_sentence(text)
        row.update(reason=f"{limit}; trimmed to its last full sentence", n_chars=len(text))
    if len(text) < config.min_chars:
        row.update(status="too_short", reason=f"{len(text)} characters < min_chars {config.min_chars}")
    else:
        row["text"] = text
    return row


def trim_to_sentence(text: str) -> str:
    """`text` up to its last sentence end (. ! ? or a line break), for a generation cut mid-sentence."""
    ends = [text.rfind(mark) for mark in (". ", "! ", "? ", ".\n", "!\n", "?\n", "\n\n")]
    end = max(ends)
    if text.rstrip().endswith((".", "!", "?")):
        return text.rstrip()
    return text[: end + 1].rstrip() if end > 0 else ""


class TextbookRun(BaseModel):
    """What a textbook run depends on: how seeds are drawn, how textbooks are written, and the model."""

    seeds: SeedConfig
    textbook: TextbookConfig
    model: str


class TextbookStage(LLMStage):
    """Textbooks on the LLM-stage runner: one generation per seed of the run."""

    name = "synth-textbooks"
    table = "generations"

    config: TextbookConfig

    def __init__(self, root: Path, run_id: str, config: TextbookRun, model: str) -> None:
        self.prompt = load_prompt(config.textbook.prompt)
        super().__init__(run_id, model, config.textbook, (self.prompt.prompt_id,))
        self.seeds = {s.seed_id: s for s in store.plan_seeds(root, run_id, config.seeds)}
        self.axes = load_axes(config.seeds.axes_dir)
        self.params = sampling_params(self.prompt, self.config.max_tokens, self.config.temperature)
        self.prompt_tokens = PROMPT_TOKENS
        self.max_tokens = self.config.max_tokens or DEFAULT_MAX_TOKENS

    def requests(self) -> list[LLMRequest]:
        return [textbook_request(s, self.axes, self.prompt, self.config) for s in self.seeds.values()]

    def rows(self, result: LLMResult) -> list[dict[str, Any]]:
        return [textbook_row(result, self.seeds[result.item_id], self.config, self.run_id, self.params)]


def generate_textbooks(
    root: Path,
    run_id: str,
    config: TextbookRun,
    llm: LLMConfig,
    endpoint: Endpoint,
    on_result: Callable[[LLMResult, GatewayStats], None] | None = None,
) -> LLMStageSummary:
    """Write the textbooks of run `run_id` through `endpoint` (the textbook stage, run by the shared runner)."""
    return run_stage(root, run_id, TextbookStage(root, run_id, config, endpoint.model), llm, endpoint, on_result)
