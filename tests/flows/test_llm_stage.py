"""The shared LLM-stage flow's split of the endpoint's limits between tasks that write at the same time on a
cluster (the batches themselves on Dask: tests/flows/test_dask_runner.py)."""

from __future__ import annotations

import pytest

from curators.llm.config import LLMConfig
from flows.llm_stage import split_limits
from flows.runners import on_this_machine


@pytest.mark.parametrize(
    ("parts", "expected"),
    [(1, (16, 600, 90_000)), (2, (8, 300, 45_000)), (3, (5, 200, 30_000)), (40, (1, 15, 2_250))],
)
def test_tasks_together_ask_no_more_than_one_process_would(parts: int, expected: tuple) -> None:
    llm = LLMConfig(concurrency=16, rpm=600, tpm=90_000)
    share = split_limits(llm, parts=parts)
    assert (share.concurrency, share.rpm, share.tpm) == expected
    assert share.concurrency * parts <= llm.concurrency or share.concurrency == 1
    unlimited = split_limits(LLMConfig(), parts=3)
    assert unlimited.rpm is None and unlimited.tpm is None


def test_only_loopback_workers_reach_the_embedded_endpoint() -> None:
    assert on_this_machine(["tcp://127.0.0.1:4001", "tcp://localhost:4002"])
    assert not on_this_machine(["tcp://127.0.0.1:4001", "tcp://10.0.0.7:4002"])
    assert not on_this_machine([])
