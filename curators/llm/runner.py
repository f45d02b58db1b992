"""The one LLM-stage runner: a stage declares its items and how an answer becomes rows; the runner does
the rest (the analogue of distilabel's Task, without its faults).

A stage (`LLMStage`) declares:
- `table`: the output table; `config.batch`: items per output shard (the unit of resume);
- `requests()`: one `LLMRequest` per item, in a stable order, each with a stable `item_id`;
- `rows(result)`: the rows one answer becomes (a failure stays a row with its status and reason); an item
  may take several requests (e.g. a pair judged in both orders: same `item_id`, distinct `sample`), then
  `rows_of_item(results)` makes its rows once all its answers are in;
- rounds, when a round's requests depend on the rows of the rounds before (Self-Instruct's pool, Evol-Instruct's
  generations): the flow builds the stage once per round (`round`), each round's batches in shards of their own;
- its model, config section and prompt ids (set when it is built): a batch whose members, model, prompts or
  config changed is redone;
- `prompt_tokens`, `max_tokens`: the context the embedded endpoint is sized for.

The runner owns: batching the items into shards (each with a done-marker), resume (a done batch is never
asked again), the response cache (an answer paid for is never paid again, even in a killed batch),
progress, usage and cost, and the summary. The caller starts an endpoint only when a batch is left to
write (`pending()`, or `plan()`'s batches): with nothing pending no endpoint object exists at all.
"""

from __future__ import annotations

import asyncio
import json
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel

from curators.llm.cache import ResponseCache
from curators.llm.config import LLMConfig
from curators.llm.gateway import Endpoint, Gateway, GatewayStats, LLMRequest, LLMResult
from curators.llm.store import Batch, plan_batches, refresh, statuses_of_run

OnResult = Callable[[LLMResult, GatewayStats], None]


class LLMStage(ABC):
    """A stage's declaration for the runner (see the module docstring). `config` is the stage's own config
    section: its `batch` is the batch size, and it is part of what a batch depends on."""

    name: ClassVar[str]  # the flow of its runs, e.g. "label"
    table: ClassVar[str]  # the output table
    prompt_tokens: int = 1024
    max_tokens: int = 1024
    rounds: int = 1  # how many times the flow builds the stage, round 0 first (see the module docstring)
    # A batch's rows depend on the answers of the round's other batches (Self-Instruct's ROUGE-L pool, filled as
    # answers arrive): the round's batches are written by one process, never split into tasks.
    batches_share_state: bool = False

    def __init__(
        self, run_id: str, model: str, config: BaseModel, prompt_ids: tuple[str, ...] = (), round: int = 0
    ) -> None:
        self.run_id = run_id
        self.model = model  # the model asked
        self.config = config
        self.prompt_ids = prompt_ids
        self.round = round

    @property
    def batch_size(self) -> int:
        return self.config.batch

    @property
    def depends_on(self) -> str:
        """What a batch's rows depend on besides its members and the model: prompts and the stage's config."""
        return json.dumps({"prompts": self.prompt_ids, "config": self.config.model_dump(mode="json")}, sort_keys=True)

    @abstractmethod
    def requests(self) -> list[LLMRequest]: ...

    @abstractmethod
    def rows(self, result: LLMResult) -> list[dict[str, Any]]: ...

    def rows_of_item(self, results: list[LLMResult]) -> list[dict[str, Any]]:
        """The rows of an item asked with several requests (its results in request order)."""
        return [row for result in results for row in self.rows(result)]


class LLMStageSummary(BaseModel):
    """The rows of a run (all its batches, earlier calls included) and what this call paid."""

    run_id: str
    stage: str
    model: str
    requested: int
    batches: int
    batches_skipped: int  # finished by an earlier call of the same run
    by_status: dict[str, int]
    cache_hits: int  # this call
    http_requests: int  # this call
    tokens_in: int  # paid by this call
    tokens_out: int
    cost_usd: float

    @property
    def ok(self) -> int:
        return self.by_status.get("ok", 0)

    @property
    def failed(self) -> int:
        return self.by_status.get("failed", 0)

    @property
    def invalid(self) -> int:
        return self.by_status.get("invalid", 0)

    def counts(self) -> dict[str, Any]:
        """For the run manifest: items, batches, rows by status, and this call's usage."""
        return {
            "requested": self.requested,
            "batches": self.batches,
            "batches_skipped": self.batches_skipped,
            **self.by_status,
            "cache_hits": self.cache_hits,
            "http_requests": self.http_requests,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": self.cost_usd,
        }


ROUND_SHARDS = 10_000  # round r's batches are shards r * ROUND_SHARDS + i


def plan(root: Path, run_id: str, stage: LLMStage) -> tuple[list[LLMRequest], list[Batch]]:
    """The stage's requests, and the batches their items fall into, each knowing whether it is done."""
    requests = stage.requests()
    asked = [(r.item_id, r.sample) for r in requests]
    if len(set(asked)) != len(asked):
        raise ValueError(f"stage {stage.name!r}: (item id, sample) must be unique within a run")
    ids = list(dict.fromkeys(r.item_id for r in requests))
    if -(-len(ids) // stage.batch_size) > ROUND_SHARDS:
        raise ValueError(f"stage {stage.name!r}: more than {ROUND_SHARDS} batches in one round; raise its batch")
    batches = plan_batches(
        root,
        run_id,
        stage.table,
        ids,
        stage.batch_size,
        f"{stage.model}\n{stage.depends_on}",
        first_index=stage.round * ROUND_SHARDS,
    )
    return requests, batches


def pending(root: Path, run_id: str, stage: LLMStage) -> bool:
    """Whether any batch of the run is still to be written (else no endpoint is needed)."""
    return any(not b.done for b in plan(root, run_id, stage)[1])


def run_stage(
    root: Path,
    run_id: str,
    stage: LLMStage,
    llm: LLMConfig,
    endpoint: Endpoint | None,
    on_result: OnResult | None = None,
    only: list[int] | None = None,
) -> LLMStageSummary:
    """Ask for every item of the batches not yet written and write each batch once all its answers are in.
    `endpoint` (serving `stage.model`) may be None only when nothing is pending. `only`: the indexes of the
    batches this call writes (the others are another call's, e.g. other tasks on a cluster)."""
    requests, batches = plan(root, run_id, stage)
    todo = [b for b in batches if not b.done and (only is None or b.index in only)]
    stats = GatewayStats()
    if todo:
        if endpoint is None:
            raise ValueError(f"stage {stage.name!r} has {len(todo)} batches to write and no endpoint")
        stats = _ask(root, stage, todo, requests, llm, endpoint, on_result)
        refresh(root)  # what was written is queryable at once
    return summarize(root, run_id, stage, batches, stats)


def _ask(
    root: Path,
    stage: LLMStage,
    todo: list[Batch],
    requests: list[LLMRequest],
    llm: LLMConfig,
    endpoint: Endpoint,
    on_result: OnResult | None,
) -> GatewayStats:
    batch_of = {item: b for b in todo for item in b.items}
    remaining = {b.index: len(b.items) for b in todo}
    wanted = [r for r in requests if r.item_id in batch_of]
    order = {(r.item_id, r.sample): i for i, r in enumerate(wanted)}
    expected = Counter(r.item_id for r in wanted)
    answered: dict[str, list[LLMResult]] = {}
    gateway = Gateway(endpoint, llm, ResponseCache(root))

    def collect(result: LLMResult) -> None:
        batch = batch_of[result.item_id]
        results = answered.setdefault(result.item_id, [])
        results.append(result)
        if len(results) == expected[result.item_id]:  # an item's rows are made once all its answers are in
            del answered[result.item_id]
            if len(results) == 1:
                rows = stage.rows(result)
            else:
                rows = stage.rows_of_item(sorted(results, key=lambda r: order[(r.item_id, r.sample)]))
            for row in rows:
                batch.writer.add(stage.table, row)
            remaining[batch.index] -= 1
            if remaining[batch.index] == 0:  # a batch is written once all its items are in
                batch.writer.flush(cursor=len(batch.items), final=True)
        if on_result is not None:
            on_result(result, gateway.stats)

    try:
        return asyncio.run(gateway.run(wanted, collect))
    finally:
        gateway.cache.close()


def summarize(root: Path, run_id: str, stage: LLMStage, batches: list[Batch], stats: GatewayStats) -> LLMStageSummary:
    return LLMStageSummary(
        run_id=run_id,
        stage=stage.name,
        model=stage.model,
        requested=sum(len(b.items) for b in batches),
        batches=len(batches),
        batches_skipped=sum(b.done for b in batches),
        by_status=statuses_of_run(root, stage.table, run_id),
        cache_hits=stats.cache_hits,
        http_requests=stats.http_requests,
        tokens_in=stats.tokens_in,
        tokens_out=stats.tokens_out,
        cost_usd=stats.cost_usd,
    )
