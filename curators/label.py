"""Label a sample of documents for educational value with an LLM, through the gateway.

The sample is chosen reproducibly (a seeded hash order over documents with distinct text); each
document is cut to a token budget (recorded), rendered with the prose or the code prompt, and asked
once (answers are cached, so a rerun pays for nothing it already has). Results are written as
`labels` shards of `batch` documents, each with its done-marker: a killed run, rerun, writes only
the missing batches, and asks only for answers it does not have. A failure stays a failure with its
reason; it is never a score of 0.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from curators.config import EmbedConfig, LabelConfig, LLMConfig
from curators.errors import CurateError
from curators.llm import Endpoint, Gateway, GatewayStats, LLMRequest, LLMResult
from curators.llm_cache import ResponseCache
from curators.prompting import Prompt, load_prompt
from curators.sampling import Choice, choose, choose_uncertain
from warehouse.catalog import query, refresh_views
from warehouse.schemas import LABEL_SAMPLE, LABELS
from warehouse.shards import CheckpointWriter, is_done, run_dir, shard_name, write_shard

CHARS_PER_TOKEN = 4  # budget arithmetic; a document's real token count varies by tokenizer


@dataclass
class LabelItem:
    id: str
    text: str
    language: str | None  # programming language of a code document, else None


def _stored_sample(root: Path, run_id: str) -> list[str] | None:
    shard = run_dir(root, "label_sample", run_id) / shard_name(0, 0)
    if not is_done(shard):
        return None
    return pq.read_table(shard, columns=["id"]).column("id").to_pylist() if shard.exists() else []


def _draw_sample(root: Path, config: LabelConfig, embed: EmbedConfig) -> list[Choice]:
    if not config.more:
        return choose(root, config.n, config.strategy, config.seed, embed)
    from curators.embed import get_embedder
    from curators.quality import load_filter

    _, rows = query(root, "SELECT path FROM filters ORDER BY created DESC LIMIT 1")
    if not rows:
        raise CurateError("a top-up round needs a filter", hint="train one first: `curate train`")
    flt = load_filter(Path(rows[0][0]))
    model_id = get_embedder(embed).model_id
    if flt.card["embedder"] != model_id:
        raise CurateError(
            f"the newest filter was trained on {flt.card['embedder']} embeddings, not {model_id}",
            hint="set `embed:` in curate.yaml as it was for training",
        )
    return choose_uncertain(root, config.more, config.seed, flt.predict, embed)


def sample_for_run(root: Path, run_id: str, config: LabelConfig, embed: EmbedConfig | None) -> list[LabelItem]:
    """The documents of this label run: drawn once and stored in `label_sample`, then read back on resume."""
    ids = _stored_sample(root, run_id)
    if ids is None:
        choices = _draw_sample(root, config, embed or EmbedConfig())
        strategy = "uncertain" if config.more else config.strategy
        table = pa.Table.from_pylist(
            [
                {
                    "id": c.id,
                    "source": c.source,
                    "reason": c.reason,
                    "cluster": c.cluster,
                    "proba": c.proba,
                    "strategy": strategy,
                    "run_id": run_id,
                }
                for c in choices
            ],
            schema=LABEL_SAMPLE,
        )
        write_shard(run_dir(root, "label_sample", run_id) / shard_name(0, 0), table, table="label_sample")
        ids = [c.id for c in choices]
    _, rows = query(
        root, "SELECT id, text, json_extract_string(meta, '$.language') FROM docs WHERE id IN (SELECT unnest(?))", [ids]
    )
    found = {r[0]: LabelItem(id=r[0], text=r[1], language=r[2]) for r in rows}
    return [found[i] for i in ids if i in found]


def truncate(text: str, max_tokens: int) -> tuple[str, bool]:
    limit = max_tokens * CHARS_PER_TOKEN
    if len(text) <= limit:
        return text, False
    cut = text[:limit]
    newline = cut.rfind("\n", int(limit * 0.8))  # end on a line break when one is near
    return (cut[:newline] if newline > 0 else cut), True


def prompt_for(item: LabelItem, config: LabelConfig) -> Prompt:
    if config.prompt:
        return load_prompt(config.prompt)
    return load_prompt("edu-code" if item.language else "edu")


def build_request(item: LabelItem, config: LabelConfig) -> tuple[LLMRequest, bool, int]:
    prompt = prompt_for(item, config)
    text, truncated = truncate(item.text, config.max_doc_tokens)
    messages = prompt.render(text=text, truncated=truncated, language=item.language)
    request = LLMRequest(
        item_id=item.id, messages=messages, params=prompt.params, output=prompt.output_model, prompt_id=prompt.prompt_id
    )
    return request, truncated, len(text)


def label_row(result: LLMResult, truncated: bool, chars_sent: int, run_id: str) -> dict[str, Any]:
    parsed = result.parsed or {}
    return {
        "id": result.item_id,
        "prompt_id": result.prompt_id,
        "model": result.model,
        "score": parsed.get("score") if result.status == "ok" else None,
        "rationale": parsed.get("reason") if result.status == "ok" else None,
        "raw": result.raw,
        "status": result.status,
        "error": result.error,
        "truncated": truncated,
        "chars_sent": chars_sent,
        "attempts": result.attempts,
        "cached": result.cached,
        "tokens_in": result.tokens_in,
        "tokens_out": result.tokens_out,
        "cost_usd": result.cost_usd,
        "cache_key": result.key,
        "run_id": run_id,
    }


class LabelSummary(BaseModel):
    """The labels of a run (all its batches, earlier attempts included) and what this call paid."""

    run_id: str
    model: str
    sampled: int
    batches: int
    batches_skipped: int  # finished by an earlier call of the same run
    ok: int
    invalid: int
    failed: int
    cache_hits: int  # this call
    http_requests: int  # this call
    tokens_in: int  # paid by this call
    tokens_out: int
    cost_usd: float


@dataclass
class Batch:
    index: int
    items: list[LabelItem]
    writer: CheckpointWriter
    done: bool


def plan_batches(root: Path, run_id: str, config: LabelConfig, model: str, embed: EmbedConfig) -> list[Batch]:
    """The sample cut into batches, each knowing whether an earlier call already wrote it."""
    items = sample_for_run(root, run_id, config, embed)
    base = json.dumps({"model": model, "config": config.model_dump()}, sort_keys=True)
    batches = []
    for index, start in enumerate(range(0, len(items), config.batch)):
        chunk = items[start : start + config.batch]
        fingerprint = hashlib.sha256((base + "\n".join(it.id for it in chunk)).encode()).hexdigest()[:16]
        writer = CheckpointWriter(
            root, run_id, index, {"labels": LABELS}, fingerprint, max_rows=len(chunk) + 1, max_bytes=1 << 40
        )
        batches.append(Batch(index, chunk, writer, done=writer.resume().finished))
    return batches


def label_sample(
    root: Path,
    run_id: str,
    config: LabelConfig,
    llm: LLMConfig,
    endpoint: Endpoint,
    on_result: Callable[[LLMResult, GatewayStats], None] | None = None,
    embed: EmbedConfig | None = None,
) -> LabelSummary:
    batches = plan_batches(root, run_id, config, endpoint.model, embed or EmbedConfig())
    todo = [b for b in batches if not b.done]
    requests: list[LLMRequest] = []
    sent: dict[str, tuple[Batch, bool, int]] = {}  # doc id -> (batch, truncated, chars sent)
    for batch in todo:
        for item in batch.items:
            request, truncated, chars = build_request(item, config)
            sent[item.id] = (batch, truncated, chars)
            requests.append(request)
    remaining = {b.index: len(b.items) for b in todo}
    gateway = Gateway(endpoint, llm, ResponseCache(root))

    def collect(result: LLMResult) -> None:
        batch, truncated, chars = sent[result.item_id]
        batch.writer.add("labels", label_row(result, truncated, chars, run_id))
        remaining[batch.index] -= 1
        if remaining[batch.index] == 0:  # a batch is written once all its answers are in
            batch.writer.flush(cursor=len(batch.items), final=True)
        if on_result is not None:
            on_result(result, gateway.stats)

    try:
        stats = asyncio.run(gateway.run(requests, collect)) if requests else gateway.stats
    finally:
        gateway.cache.close()
    return summarize(root, run_id, endpoint.model, batches, stats)


def summarize(root: Path, run_id: str, model: str, batches: list[Batch], stats: GatewayStats) -> LabelSummary:
    refresh_views(root)  # the caller holds the writer lock
    _, rows = query(root, "SELECT status, count(*) FROM labels_all WHERE run_id = ? GROUP BY 1", [run_id])
    by_status = dict(rows)
    return LabelSummary(
        run_id=run_id,
        model=model,
        sampled=sum(len(b.items) for b in batches),
        batches=len(batches),
        batches_skipped=sum(b.done for b in batches),
        ok=by_status.get("ok", 0),
        invalid=by_status.get("invalid", 0),
        failed=by_status.get("failed", 0),
        cache_hits=stats.cache_hits,
        http_requests=stats.http_requests,
        tokens_in=stats.tokens_in,
        tokens_out=stats.tokens_out,
        cost_usd=stats.cost_usd,
    )
