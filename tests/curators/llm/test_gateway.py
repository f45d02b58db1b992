from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from curators.config import LLMConfig, Price
from curators.llm.cache import ResponseCache
from curators.llm.gateway import Endpoint, Gateway, LLMRequest, LLMResult
from curators.llm.limits import RateLimiter
from curators.llm.prompts import EduScore
from tests.fake_llm import FakeLLM

# Short backoffs; a timeout no answer of the fake endpoint comes near, even on a loaded 2-core machine.
# Timeouts themselves are tested with requests that are held unanswered (`HangingLLM`), not with slow ones.
FAST = dict(backoff_s=0.01, backoff_max_s=0.05, timeout_s=30.0, max_attempts=4, max_reasks=2)


def request(item: str, scenario: str = "ok") -> LLMRequest:
    return LLMRequest(
        item_id=item,
        messages=[{"role": "user", "content": f"ITEM:{item} SCENARIO:{scenario} rate this"}],
        params={"temperature": 0.0, "max_tokens": 50},
        output=EduScore,
        prompt_id="edu@v1:test",
    )


def gateway(fake: FakeLLM, root: Path | None = None, **config: object) -> Gateway:
    options = {**FAST, **config}
    return Gateway(
        Endpoint(fake.base_url, "fake-model", api_key="sk-secret"), LLMConfig(**options), ResponseCache(root)
    )


SCENARIOS = {  # scenario -> (final status, calls the server sees)
    "ok": ("ok", 1),
    "rate-limited": ("ok", 3),
    "server-error": ("ok", 3),
    "always-500": ("failed", 4),
    "unauthorized": ("failed", 1),
    "garbage": ("ok", 2),
    "drop": ("ok", 2),
    "prose": ("invalid", 3),
    "out-of-range": ("ok", 2),
    "truncated": ("ok", 2),
    "empty": ("invalid", 3),
}


def test_a_misbehaving_endpoint_ends_every_item_answered_or_failed_with_reason(tmp_path: Path) -> None:
    with FakeLLM() as fake:
        gw = gateway(fake, tmp_path)
        results = {}
        stats = gw.run_sync(
            [request(name, name) for name in SCENARIOS], on_result=lambda r: results.__setitem__(r.item_id, r)
        )
    assert stats.done == stats.requested == len(SCENARIOS)
    assert stats.ok + stats.invalid + stats.failed == len(SCENARIOS)
    for name, (status, calls) in SCENARIOS.items():
        result = results[name]
        assert result.status == status, (name, result.error)
        assert fake.calls[name] == calls, name  # bounded attempts, nothing more
        assert result.attempts == calls
        if status == "ok":
            assert EduScore.model_validate(result.parsed).score == 3 and result.error is None
        else:
            assert result.parsed is None and result.error  # a reason, never a silent None
    assert "score" in results["out-of-range"].raw and results["out-of-range"].reasks == 1
    assert "le" not in results["prose"].error and "no JSON object" in results["prose"].error
    assert "HTTP 401" in results["unauthorized"].error
    assert stats.http_requests == sum(fake.calls.values())
    # Usage: per item and per run, reconciled exactly.
    assert stats.tokens_in == sum(r.tokens_in for r in results.values())
    assert stats.tokens_out == sum(r.tokens_out for r in results.values())
    assert results["out-of-range"].tokens_in == 100  # both calls of the re-ask are counted


class HangingLLM(FakeLLM):
    """The fake endpoint with two hangs that load cannot shorten or lengthen. `hang-forever`: no call is ever
    answered. `hang-once`: the first call is held unanswered until the item's second call (the retry after
    the client's timeout) has arrived, which is answered at once."""

    def __init__(self) -> None:
        super().__init__()
        self.retried = threading.Event()
        self.stopped = threading.Event()

    def respond(self, h: Any, name: str, n: int, reask: bool, body: dict[str, Any], *rest: Any) -> None:
        if name == "hang-forever" or (name == "hang-once" and n == 1):
            held_until = self.stopped if name == "hang-forever" else self.retried
            while not (held_until.is_set() or self.stopped.is_set()):
                held_until.wait(0.1)
            h.close_connection = True  # no answer: the client gave up on this call
            return
        if name == "hang-once":
            self.retried.set()
            name = "ok"
        super().respond(h, name, n, reask, body, *rest)

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        super().__exit__(*exc)


def wait_for_calls(fake: FakeLLM, item: str, calls: int) -> None:
    """Until the fake has counted `calls` calls of `item` (its handler threads may lag behind the client)."""
    deadline = time.monotonic() + 30
    while fake.calls[item] < calls and time.monotonic() < deadline:
        time.sleep(0.01)


def test_a_request_never_answered_times_out_on_every_attempt_then_fails() -> None:
    with HangingLLM() as fake:
        results: list[LLMResult] = []
        stats = gateway(fake, timeout_s=0.5, max_attempts=3).run_sync(
            [request("h", "hang-forever")], on_result=results.append
        )
        wait_for_calls(fake, "h", 3)
    (result,) = results
    assert result.status == "failed" and result.parsed is None
    assert result.error == "timeout after 0.5s (after 3 attempts)"
    assert result.attempts == stats.http_requests == fake.calls["h"] == 3  # bounded: no fourth call


def test_a_timed_out_call_is_retried_and_the_answer_used() -> None:
    with HangingLLM() as fake:
        results: list[LLMResult] = []
        stats = gateway(fake, timeout_s=5.0).run_sync([request("h", "hang-once")], on_result=results.append)
    (result,) = results
    assert result.status == "ok" and result.error is None and "timeout" not in result.raw
    assert EduScore.model_validate(result.parsed).score == 3
    assert result.attempts == stats.http_requests == fake.calls["h"] == 2


def test_retry_after_is_honoured(tmp_path: Path) -> None:
    with FakeLLM() as fake:
        started = time.monotonic()
        stats = gateway(fake).run_sync([request("r", "rate-limited")])
    assert stats.ok == 1
    assert time.monotonic() - started >= 2.0  # two 429s with Retry-After: 1


def test_the_cache_means_a_second_run_pays_for_nothing(tmp_path: Path) -> None:
    items = [request(f"doc{i}") for i in range(5)] + [request("bad", "prose"), request("down", "always-500")]
    with FakeLLM() as fake:
        first = gateway(fake, tmp_path).run_sync(items)
        calls_after_first = fake.total
        second_gw = gateway(fake, tmp_path)
        second = second_gw.run_sync(items)
    assert (first.ok, first.invalid, first.failed) == (5, 1, 1)
    assert first.cache_hits == 0
    # Paid answers (valid or invalid) are cached; the failed item had no answer, so it is asked again.
    assert second.cache_hits == 6 and second.http_requests == fake.total - calls_after_first == 4
    assert (second.ok, second.invalid, second.failed) == (5, 1, 1)
    assert second.tokens_in == 0  # nothing paid for the cached answers


def test_a_killed_writer_loses_only_its_torn_line(tmp_path: Path) -> None:
    with FakeLLM() as fake:
        gateway(fake, tmp_path).run_sync([request(f"d{i}") for i in range(3)])
    journal = next((tmp_path / "llm_cache").glob("*.jsonl"))
    with open(journal, "a") as fh:
        fh.write('{"key": "abc", "status": "o')  # a write cut by a kill
    cache = ResponseCache(tmp_path)
    assert len(cache) == 3 and cache.torn_lines == 1


def test_cost_from_the_price_table_reconciles(tmp_path: Path) -> None:
    prices = {"fake-model": Price(input=2.5, output=10.0)}
    with FakeLLM() as fake:
        results = []
        stats = gateway(fake, prices=prices).run_sync([request(f"c{i}") for i in range(7)], on_result=results.append)
    assert all(r.cost_usd == pytest.approx((50 * 2.5 + 12 * 10.0) / 1e6) for r in results)
    assert stats.cost_usd == math.fsum(r.cost_usd for r in results)


def test_an_endpoint_refusing_json_schema_is_asked_more_plainly() -> None:
    with FakeLLM() as fake:
        results = []
        gw = gateway(fake)
        gw.run_sync([request("s", "refuses-schema")], on_result=results.append)
    assert results[0].status == "ok"
    assert gw.structured == "json_object_schema"
    assert [b.get("response_format", {}).get("type") for b in fake.bodies] == ["json_schema", "json_object"]


def test_the_key_never_reaches_the_repr_or_the_cache(tmp_path: Path) -> None:
    with FakeLLM() as fake:
        gw = gateway(fake, tmp_path)
        gw.run_sync([request("k")])
    assert "sk-secret" not in repr(gw.endpoint)
    assert "sk-secret" not in next((tmp_path / "llm_cache").glob("*.jsonl")).read_text()


def test_concurrency_is_bounded() -> None:
    with FakeLLM(latency=0.2) as fake:
        started = time.monotonic()
        gateway(fake, concurrency=4).run_sync([request(f"p{i}") for i in range(8)])
        elapsed = time.monotonic() - started
    assert elapsed >= 0.4  # 8 requests, 4 at a time, 0.2 s each: at least two rounds


def test_rate_limiter_spaces_requests() -> None:
    import asyncio

    async def go() -> float:
        limiter = RateLimiter(rpm=120, tpm=None)  # a bucket of 120, refilled at 2/s
        limiter._requests = 1  # nearly empty
        started = time.monotonic()
        for _ in range(3):
            await limiter.acquire(10)
        return time.monotonic() - started

    assert asyncio.run(go()) >= 0.9  # the 2nd and 3rd wait ~0.5 s each


def test_the_embedded_llama_server_gets_its_slots_and_json_schema_with_real_bounds() -> None:
    with FakeLLM() as fake:
        endpoint = Endpoint(fake.base_url, "fake-model", local=True, slots=3, engine="llama-server")
        gw = Gateway(endpoint, LLMConfig(**FAST), ResponseCache(None))
        gw.run_sync([request("b")])
    assert gw.concurrency == 3 and gw.structured == "json_schema" and gw.timeout_s == 3 * FAST["timeout_s"]
    score = fake.bodies[0]["response_format"]["json_schema"]["schema"]["properties"]["score"]
    assert score["minimum"] == 0 and score["maximum"] == 5 and "enum" not in score


def test_an_embedded_server_without_props_is_llama_cpp_python_one_request_at_a_time() -> None:
    with FakeLLM() as fake:  # answers GET /props with no total_slots: not llama-server
        endpoint = Endpoint(fake.base_url, "fake-model", local=True)
        gw = Gateway(endpoint, LLMConfig(**FAST, concurrency=16), ResponseCache(None))
        gw.run_sync([request("p")])
    assert (endpoint.engine, endpoint.slots, gw.concurrency) == ("llama-cpp-python", 1, 1)
    assert fake.bodies[0]["response_format"]["type"] == "json_object"
    assert fake.bodies[0]["response_format"]["schema"]["properties"]["score"]["enum"] == [0, 1, 2, 3, 4, 5]


def test_a_share_of_the_slots_is_kept_when_the_engine_is_unknown() -> None:
    with FakeLLM() as fake:  # no /props: llama-cpp-python, whatever share was given
        endpoint = Endpoint(fake.base_url, "fake-model", local=True, slots=2)
        gw = Gateway(endpoint, LLMConfig(**FAST), ResponseCache(None))
        gw.run_sync([request("s")])
    assert (endpoint.engine, gw.concurrency) == ("llama-cpp-python", 1)
