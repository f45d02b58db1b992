"""The LLM-stage runner with a toy stage declared here: batches, resume, the cache, rows per answer,
failures as rows, and no endpoint when nothing is pending."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from pydantic import BaseModel

from curators.llm.config import LLMConfig
from curators.llm.gateway import Endpoint, LLMRequest, LLMResult
from curators.llm.runner import LLMStage, pending, run_stage
from tests.fake_llm import FakeLLM
from warehouse.listings import table_shards

FAST = LLMConfig(concurrency=4, backoff_s=0.01, max_attempts=2, max_reasks=0)


class ToyConfig(BaseModel):
    batch: int = 3
    words: int = 2  # rows per answer


class ToyStage(LLMStage):
    """Asks once per item; an answer becomes `words` generations rows (a failure: one row with its reason)."""

    name = "toy"
    table = "generations"

    def __init__(self, run_id: str, model: str, config: ToyConfig, items: dict[str, str]) -> None:
        super().__init__(run_id, model, config, ("toy@v1",))
        self.items = items  # item id -> scenario of the fake endpoint

    def requests(self) -> list[LLMRequest]:
        return [
            LLMRequest(
                item_id=i,
                messages=[{"role": "system", "content": f"SCENARIO:{s} ITEM:{i}"}, {"role": "user", "content": i}],
                prompt_id="toy@v1",
            )
            for i, s in self.items.items()
        ]

    def rows(self, result: LLMResult) -> list[dict[str, Any]]:
        base = {"task": "toy", "seed_id": result.item_id, "prompt_id": "toy@v1", "model": result.model}
        if result.status != "ok":
            failed = {"id": f"{result.item_id}-x", "text": "", "status": result.status, "reason": result.error}
            return [{**base, **failed, "run_id": self.run_id}]
        return [
            {**base, "id": f"{result.item_id}-{k}", "text": result.raw, "status": "ok", "cached": result.cached}
            | {"run_id": self.run_id}
            for k in range(self.config.words)
        ]


def rows_of(root: Path, run_id: str) -> list[dict[str, Any]]:
    return [r for s in table_shards(root, "generations", run_id) for r in pq.read_table(s).to_pylist()]


def test_the_runner_writes_batches_resumes_and_pays_nothing_twice(tmp_path: Path) -> None:
    items = {f"i{k}": "ok" for k in range(7)}
    stage = ToyStage("run-1", "fake-model", ToyConfig(), items)
    assert pending(tmp_path, "run-1", stage)
    with FakeLLM() as fake:
        first = run_stage(tmp_path, "run-1", stage, FAST, Endpoint(fake.base_url, "fake-model"))
        assert fake.total == 7
    assert (first.requested, first.batches, first.batches_skipped) == (7, 3, 0)  # batches of 3, 3, 1
    assert first.by_status == {"ok": 14} and first.http_requests == 7 and first.tokens_in > 0
    rows = rows_of(tmp_path, "run-1")
    assert len(rows) == len({r["id"] for r in rows}) == 14 and {r["run_id"] for r in rows} == {"run-1"}
    # Rerun: every batch is done, so nothing is pending and no endpoint is needed at all.
    assert not pending(tmp_path, "run-1", stage)
    again = run_stage(tmp_path, "run-1", stage, FAST, None)
    assert again.batches_skipped == 3 and again.http_requests == 0 and again.by_status == {"ok": 14}


def test_a_changed_config_redoes_the_batches_from_the_cache(tmp_path: Path) -> None:
    items = {f"i{k}": "ok" for k in range(4)}
    with FakeLLM() as fake:
        endpoint = Endpoint(fake.base_url, "fake-model")
        run_stage(tmp_path, "run-1", ToyStage("run-1", "fake-model", ToyConfig(), items), FAST, endpoint)
        changed = ToyStage("run-1", "fake-model", ToyConfig(words=3), items)
        assert pending(tmp_path, "run-1", changed)  # its batches depend on the config
        summary = run_stage(tmp_path, "run-1", changed, FAST, endpoint)
        assert fake.total == 4  # the answers came from the response cache
    assert summary.cache_hits == 4 and summary.by_status == {"ok": 12}
    assert all(r["cached"] for r in rows_of(tmp_path, "run-1"))


def test_a_failed_item_is_a_row_with_its_reason_and_is_counted(tmp_path: Path) -> None:
    items = {"good": "ok", "bad": "always-500"}
    with FakeLLM() as fake:
        summary = run_stage(
            tmp_path, "run-1", ToyStage("run-1", "m", ToyConfig(), items), FAST, Endpoint(fake.base_url, "m")
        )
    assert summary.by_status == {"failed": 1, "ok": 2} and summary.failed == 1 and summary.ok == 2
    bad = [r for r in rows_of(tmp_path, "run-1") if r["status"] == "failed"]
    assert len(bad) == 1 and bad[0]["reason"]


def test_pending_work_without_an_endpoint_and_duplicate_ids_are_errors(tmp_path: Path) -> None:
    stage = ToyStage("run-1", "m", ToyConfig(), {"a": "ok"})
    with pytest.raises(ValueError, match="no endpoint"):
        run_stage(tmp_path, "run-1", stage, FAST, None)
    twice = ToyStage("run-1", "m", ToyConfig(), {"a": "ok"})
    twice.requests = lambda: ToyStage.requests(stage) * 2  # type: ignore[method-assign]
    with pytest.raises(ValueError, match="unique"):
        pending(tmp_path, "run-1", twice)
