"""Synthetic textbooks from diversity seeds, and exercises with worked solutions written from them.

A run draws its seeds once (`seeds` table; read back on resume), then asks one generation per seed
through the gateway (cached: a rerun pays for nothing it already has; cost-accounted per row). Rows
are written to `generations` a batch at a time, each batch a shard with its done-marker.

Post-processing, each outcome a `status` with a `reason`, never a silent drop:
- ok: kept; a boilerplate opening (assistant chatter such as "Sure! Here is...", a "Title:" line,
  "Once upon a time", "In today's world", "Welcome to...") is removed and kept in `stripped_opening`.
- truncated: the model stopped at the token limit (finish_reason = length): the text is cut mid-way.
- too_short: fewer than `min_chars` characters after post-processing.
- invalid / failed: the gateway's outcome (an answer that never parsed; no answer).
Only ok rows carry `text`; every answer stays readable in `llm_responses` through `cache_key`.

Exercises: for each ok textbook of the run, one request for `per_textbook` exercises (JSON, schema
`Exercises`); each exercise becomes a row (task = exercise, parent_id = the textbook). Programming
subjects ask for a function signature + docstring and a solution (phi-1's CodeExercises).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from curators.config import ExercisesConfig, LLMConfig, SeedConfig, TextbookConfig
from curators.errors import CurateError
from curators.llm import Endpoint, Gateway, GatewayStats, LLMRequest, LLMResult
from curators.llm_cache import ResponseCache
from curators.prompting import Prompt, load_prompt
from curators.synth.seeds import Axes, Seed, load_axes, sample_seeds, seed_prompt_fields, web_seeds
from warehouse.catalog import query
from warehouse.schemas import GENERATIONS, SEEDS
from warehouse.shards import CheckpointWriter, done_shards, is_done, run_dir, shard_name, write_shard

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


# --- Seeds ---------------------------------------------------------------------------------------


def stored_seeds(root: Path, run_id: str) -> list[Seed] | None:
    """The seeds a run drew, or None when it has not drawn them yet."""
    shard = run_dir(root, "seeds", run_id) / shard_name(0, 0)
    if not is_done(shard):
        return None
    if not shard.exists():
        return []
    return [Seed.from_row(r) for r in pq.read_table(shard).to_pylist()]


def plan_seeds(root: Path, run_id: str, config: SeedConfig) -> list[Seed]:
    """The seeds of this run: drawn once and stored in `seeds`, read back on resume."""
    seeds = stored_seeds(root, run_id)
    if seeds is not None:
        return seeds
    axes = load_axes(config.axes_dir)
    if config.mode == "web":
        try:
            _, rows = query(
                root,
                "SELECT id, text, score FROM curated WHERE score >= ? ORDER BY score DESC, id LIMIT ?",
                [config.web_min_score, config.n * 3],
            )
        except CurateError as exc:
            raise CurateError(
                f"web seeds need scored documents: {exc.message}", hint="run `curate run` (or ingest, train, score)"
            ) from None
        seeds = list(web_seeds([{"id": r[0], "text": r[1], "score": r[2]} for r in rows], config, axes))
        if not seeds:
            raise CurateError(
                f"no curated document scores {config.web_min_score} or more",
                hint="lower synth.seeds.web_min_score, or use seeds.mode: taxonomy",
            )
    else:
        seeds = sample_seeds(config, axes)
    table = pa.Table.from_pylist([s.as_row(run_id) for s in seeds], schema=SEEDS)
    write_shard(run_dir(root, "seeds", run_id) / shard_name(0, 0), table, table="seeds")
    return seeds


# --- Requests and rows ---------------------------------------------------------------------------


def _params(prompt: Prompt, max_tokens: int | None, temperature: float | None = None) -> dict[str, Any]:
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
        params=_params(prompt, config.max_tokens, config.temperature),
        prompt_id=prompt.prompt_id,
        accept_cut=True,
    )


def _base_row(result: LLMResult, run_id: str, params: dict[str, Any]) -> dict[str, Any]:
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
    row = _base_row(result, run_id, params)
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
        params=_params(prompt, config.max_tokens),
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
    base = _base_row(result, run_id, params)
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


# --- Running a batch of requests -----------------------------------------------------------------


class GenerationSummary(BaseModel):
    run_id: str
    task: str
    model: str
    requested: int
    batches: int
    batches_skipped: int
    by_status: dict[str, int]
    cache_hits: int
    http_requests: int
    tokens_in: int
    tokens_out: int
    cost_usd: float


@dataclass
class _Batch:
    index: int
    keys: list[str]  # item ids of the requests
    writer: CheckpointWriter
    done: bool


def _plan(
    root: Path, run_id: str, keys: list[str], config: TextbookConfig | ExercisesConfig, model: str
) -> list[_Batch]:
    """The requests of a run cut into batches of `config.batch`, each knowing whether an earlier call wrote it.
    A batch is redone when its model, prompt, settings or members change."""
    base = json.dumps({"model": model, "prompt": load_prompt(config.prompt).prompt_id, "c": config.model_dump()})
    batches = []
    for index, start in enumerate(range(0, len(keys), config.batch)):
        chunk = keys[start : start + config.batch]
        fp = hashlib.sha256((base + "\n".join(chunk)).encode()).hexdigest()[:16]
        writer = CheckpointWriter(
            root, run_id, index, {"generations": GENERATIONS}, fp, max_rows=1 << 30, max_bytes=1 << 40
        )
        batches.append(_Batch(index, chunk, writer, done=writer.resume().finished))
    return batches


def _run_batches(
    root: Path,
    run_id: str,
    batches: list[_Batch],
    requests: dict[str, LLMRequest],
    to_rows: Callable[[LLMResult], list[dict[str, Any]]],
    llm: LLMConfig,
    endpoint: Endpoint,
    on_result: Callable[[LLMResult, GatewayStats], None] | None,
) -> GatewayStats:
    todo = [b for b in batches if not b.done]
    batch_of = {k: b for b in todo for k in b.keys}
    remaining = {b.index: len(b.keys) for b in todo}
    gateway = Gateway(endpoint, llm, ResponseCache(root))

    def collect(result: LLMResult) -> None:
        batch = batch_of[result.item_id]
        for row in to_rows(result):
            batch.writer.add("generations", row)
        remaining[batch.index] -= 1
        if remaining[batch.index] == 0:  # a batch is written once all its answers are in
            batch.writer.flush(cursor=len(batch.keys), final=True)
        if on_result is not None:
            on_result(result, gateway.stats)

    wanted = [requests[k] for b in todo for k in b.keys]
    try:
        return asyncio.run(gateway.run(wanted, collect)) if wanted else gateway.stats
    finally:
        gateway.cache.close()


def _summary(
    root: Path, run_id: str, task: str, model: str, batches: list[_Batch], stats: GatewayStats
) -> GenerationSummary:
    rows = []
    for path, _ in done_shards(root, "generations"):
        if path.parent == run_dir(root, "generations", run_id):
            rows.extend(pq.read_table(path, columns=["task", "status"]).to_pylist())
    by_status: dict[str, int] = {}
    for r in rows:
        if r["task"] == task:
            by_status[r["status"]] = by_status.get(r["status"], 0) + 1
    return GenerationSummary(
        run_id=run_id,
        task=task,
        model=model,
        requested=sum(len(b.keys) for b in batches),
        batches=len(batches),
        batches_skipped=sum(b.done for b in batches),
        by_status=by_status,
        cache_hits=stats.cache_hits,
        http_requests=stats.http_requests,
        tokens_in=stats.tokens_in,
        tokens_out=stats.tokens_out,
        cost_usd=stats.cost_usd,
    )


def generate_textbooks(
    root: Path,
    run_id: str,
    seeds: list[Seed],
    config: TextbookConfig,
    seed_config: SeedConfig,
    llm: LLMConfig,
    endpoint: Endpoint,
    on_result: Callable[[LLMResult, GatewayStats], None] | None = None,
) -> GenerationSummary:
    axes = load_axes(seed_config.axes_dir)
    prompt = load_prompt(config.prompt)
    by_id = {s.seed_id: s for s in seeds}
    requests = {s.seed_id: textbook_request(s, axes, prompt, config) for s in seeds}
    params = _params(prompt, config.max_tokens, config.temperature)
    batches = _plan(root, run_id, list(by_id), config, endpoint.model)
    stats = _run_batches(
        root,
        run_id,
        batches,
        requests,
        lambda r: [textbook_row(r, by_id[r.item_id], config, run_id, params)],
        llm,
        endpoint,
        on_result,
    )
    return _summary(root, run_id, "textbook", endpoint.model, batches, stats)


def textbooks_pending(root: Path, run_id: str, seeds: list[Seed], config: TextbookConfig, model: str) -> bool:
    """Whether any textbook batch of the run is still to be written (else no endpoint is needed)."""
    return any(not b.done for b in _plan(root, run_id, [s.seed_id for s in seeds], config, model))


def exercises_pending(
    root: Path, run_id: str, textbook_run_id: str, seeds: list[Seed], config: ExercisesConfig, model: str
) -> bool:
    """Whether any exercise batch of the run is still to be written (else no endpoint is needed)."""
    by_seed = {s.seed_id for s in seeds}
    keys = [t["id"] for t in textbooks_of_run(root, textbook_run_id) if t["seed_id"] in by_seed]
    return any(not b.done for b in _plan(root, run_id, keys, config, model))


def textbooks_of_run(root: Path, run_id: str) -> list[dict[str, Any]]:
    rows = []
    for path, _ in done_shards(root, "generations"):
        if path.parent == run_dir(root, "generations", run_id):
            table = pq.read_table(path, columns=["id", "task", "seed_id", "text", "status"])
            rows.extend(r for r in table.to_pylist() if r["task"] == "textbook" and r["status"] == "ok")
    return sorted(rows, key=lambda r: r["id"])


def generate_exercises(
    root: Path,
    run_id: str,
    textbook_run_id: str,
    seeds: list[Seed],
    config: ExercisesConfig,
    llm: LLMConfig,
    endpoint: Endpoint,
    on_result: Callable[[LLMResult, GatewayStats], None] | None = None,
) -> GenerationSummary:
    by_seed = {s.seed_id: s for s in seeds}
    textbooks = [t for t in textbooks_of_run(root, textbook_run_id) if t["seed_id"] in by_seed]
    prompt = load_prompt(config.prompt)
    params = _params(prompt, config.max_tokens)
    by_id = {t["id"]: t for t in textbooks}
    requests = {t["id"]: exercises_request(t, by_seed[t["seed_id"]], prompt, config) for t in textbooks}
    batches = _plan(root, run_id, list(by_id), config, endpoint.model)
    stats = _run_batches(
        root,
        run_id,
        batches,
        requests,
        lambda r: exercise_rows(r, by_id[r.item_id], run_id, params),
        llm,
        endpoint,
        on_result,
    )
    return _summary(root, run_id, "exercise", endpoint.model, batches, stats)
