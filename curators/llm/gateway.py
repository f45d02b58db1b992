"""The LLM gateway: every LLM call of the product goes through here.

- Any OpenAI-compatible endpoint, through the `openai` SDK's async client (its own retries off).
- Concurrency limit, and requests-per-minute / tokens-per-minute token buckets.
- Retries with exponential backoff and full jitter on 429 (honouring Retry-After), 5xx, timeouts,
  connection errors and garbled responses; a bounded number of attempts; then the item is `failed`
  with its reason. Nothing is replaced by an empty or None answer.
- Structured answers: JSON requested (`json_schema`, or `json_object` with a schema, which llama.cpp
  turns into a grammar), parsed and validated against a pydantic model (ranges included), re-asked a
  bounded number of times; the raw text and a status are kept. An endpoint that refuses a
  response_format is asked with the next weaker one.
- A persistent response cache (see `llm_cache`): an answer paid for is never paid for again.
- Usage from the API's `usage` field: tokens in/out per item and per run; cost from a price table.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import openai
from pydantic import BaseModel

from curators.llm.cache import ResponseCache, cache_key
from curators.llm.config import LLMConfig, Price
from curators.llm.limits import RateLimiter
from curators.llm.llama_server import probe_engine
from curators.llm.prompts import json_schema_for, parse_answer

MAX_RETRY_AFTER_S = 600.0
CONNECTIONS_PER_CLIENT = 16
NO_COMPLETIONS = (
    "the endpoint has no text completions (/v1/completions), which Magpie needs: use the embedded server, "
    "vLLM, TGI, llama.cpp or Ollama (OpenAI's chat models offer only /v1/chat/completions)"
)
STRUCTURED_FALLBACK = {"json_schema": "json_object_schema", "json_object_schema": "json_object", "json_object": "none"}


@dataclass
class Endpoint:
    base_url: str
    model: str
    api_key: str = "not-needed"  # never logged, never stored
    local: bool = False  # the embedded llama.cpp server
    # The embedded server's engine (llama-server | llama-cpp-python) and slots (requests it decodes at once, or this
    # client's share of them). Engine None: asked of the server when a session opens (`probe_engine`).
    slots: int | None = None
    engine: str | None = None

    def __repr__(self) -> str:  # keep the key out of logs and tracebacks
        return f"Endpoint(base_url={self.base_url!r}, model={self.model!r}, local={self.local}, slots={self.slots})"


@dataclass
class LLMRequest:
    item_id: str  # what the answer is about (a document id, a seed id...)
    messages: list[dict[str, str]]
    params: dict[str, Any] = field(default_factory=dict)  # temperature, max_tokens, ...
    output: type[BaseModel] | None = None
    sample: int = 0  # the n-th answer to the same prompt (for several samples at temperature > 0)
    prompt_id: str | None = None
    # Free text only: an answer cut at max_tokens is returned (finish_reason "length") instead of re-asked;
    # the caller records it (a generation stage keeps it as `truncated`, it does not pay twice).
    accept_cut: bool = False
    # Raw text completion (`/v1/completions`) instead of chat: the prompt is sent as is (Magpie sends a chat
    # template's prefix up to the user turn); `messages` is then empty. Free text only.
    prompt: str | None = None

    @property
    def sent(self) -> list[dict[str, str]]:
        """What the cache key and the token estimate see: the messages, or the raw prompt as one message."""
        return self.messages if self.prompt is None else [{"role": "completion", "content": self.prompt}]


@dataclass
class LLMResult:
    item_id: str
    key: str  # the cache key
    status: str  # ok | invalid (answered, but never valid) | failed (no answer)
    parsed: dict[str, Any] | None
    raw: str | None
    error: str | None
    model: str
    prompt_id: str | None
    attempts: int
    reasks: int
    tokens_in: int
    tokens_out: int
    cost_usd: float
    finish_reason: str | None
    cached: bool = False
    latency_s: float = 0.0
    sample: int = 0

    def cache_entry(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "item_id": self.item_id,
            "status": self.status,
            "parsed": self.parsed,
            "raw": self.raw,
            "error": self.error,
            "model": self.model,
            "prompt_id": self.prompt_id,
            "attempts": self.attempts,
            "reasks": self.reasks,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost_usd": self.cost_usd,
            "finish_reason": self.finish_reason,
            "created": datetime.now(UTC).isoformat(),
        }


@dataclass
class GatewayStats:
    requested: int = 0  # items asked for
    done: int = 0
    ok: int = 0
    invalid: int = 0
    failed: int = 0
    cache_hits: int = 0
    http_requests: int = 0  # calls sent to the endpoint (attempts and re-asks included)
    retries: int = 0
    tokens_in: int = 0  # paid in this run (cache hits excluded)
    tokens_out: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)

    def add(self, result: LLMResult) -> None:
        self.done += 1
        setattr(self, result.status, getattr(self, result.status) + 1)
        if result.cached:
            self.cache_hits += 1
        else:
            self.tokens_in += result.tokens_in
            self.tokens_out += result.tokens_out
            self.cost_usd = math.fsum([self.cost_usd, result.cost_usd])


@dataclass
class _Tally:
    """What asking for one item has cost and returned so far."""

    attempts: int = 0
    reasks: int = 0
    tokens_in: int = 0
    tokens_out: int = 0
    raw: str | None = None
    finish: str | None = None
    started: float = field(default_factory=time.monotonic)


def estimate_tokens(messages: list[dict[str, str]], max_tokens: int | None) -> int:
    return sum(len(m.get("content") or "") for m in messages) // 4 + 8 * len(messages) + (max_tokens or 256)


def cost_of(prices: dict[str, Price], model: str, tokens_in: int, tokens_out: int) -> float:
    price = prices.get(model)
    if price is None:
        return 0.0
    return round((tokens_in * price.input + tokens_out * price.output) / 1_000_000, 10)


def _retry_after(exc: openai.APIStatusError) -> float | None:
    headers = exc.response.headers if exc.response is not None else {}
    value = headers.get("retry-after-ms")
    if value:
        with contextlib.suppress(ValueError):
            return float(value) / 1000
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        with contextlib.suppress(TypeError, ValueError):
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    return None


class Gateway:
    def __init__(self, endpoint: Endpoint, config: LLMConfig, cache: ResponseCache | None = None) -> None:
        self.endpoint = endpoint
        self.config = config
        self.cache = cache if cache is not None else ResponseCache(None)
        self.concurrency = config.concurrency
        self.timeout_s = config.timeout_s
        self.structured = config.structured
        self._configure_local()
        self.stats = GatewayStats()
        self._clients: list[openai.AsyncOpenAI] = []
        self._limiter: RateLimiter | None = None
        self._semaphore: asyncio.Semaphore | None = None

    def _configure_local(self) -> None:
        """The embedded server: as many requests in flight as it has slots; llama-server gets `json_schema`
        with real integer bounds, llama-cpp-python `json_object` with a schema (ranges as enums)."""
        endpoint = self.endpoint
        if not endpoint.local:
            if self.config.structured == "auto":
                self.structured = "json_schema"
            return
        self.concurrency = endpoint.slots or 1
        # A request shares the server's decoding with the others in flight: it takes up to that many times longer.
        self.timeout_s = self.config.timeout_s * self.concurrency
        if self.config.structured == "auto":
            self.structured = "json_schema" if endpoint.engine == "llama-server" else "json_object_schema"

    async def _probe_local(self) -> None:
        """An embedded server known only by its URL (a flow's task gets base URL, model, local, perhaps its share
        of the slots): ask it which engine it is and how many slots it has; a share given caps them."""
        endpoint = self.endpoint
        if endpoint.local and endpoint.engine is None:
            endpoint.engine, slots = await probe_engine(endpoint.base_url)
            endpoint.slots = min(slots, endpoint.slots or slots)
            self._configure_local()

    # -- request building ------------------------------------------------------------------

    def _response_format(self, output: type[BaseModel] | None) -> dict[str, Any] | None:
        if output is None or self.structured == "none":
            return None
        # llama-server's grammar enforces integer minimum/maximum; elsewhere ranges are sent as enums.
        schema = json_schema_for(output, integer_enums=self.endpoint.engine != "llama-server")
        if self.structured == "json_schema":
            return {"type": "json_schema", "json_schema": {"name": output.__name__, "schema": schema}}
        if self.structured == "json_object_schema":
            return {"type": "json_object", "schema": schema}
        return {"type": "json_object"}

    def key_for(self, request: LLMRequest) -> str:
        params = dict(request.params)
        if request.output is not None:
            params["output_schema"] = json_schema_for(request.output)
        return cache_key(self.endpoint.model, request.sent, params, request.sample)

    # -- one item ----------------------------------------------------------------------------

    async def complete(self, request: LLMRequest) -> LLMResult:
        key = self.key_for(request)
        entry = self.cache.get(key)
        if entry is not None:
            result = LLMResult(
                **{
                    k: entry[k]
                    for k in (
                        "item_id",
                        "key",
                        "status",
                        "parsed",
                        "raw",
                        "error",
                        "model",
                        "prompt_id",
                        "attempts",
                        "reasks",
                        "tokens_in",
                        "tokens_out",
                        "cost_usd",
                        "finish_reason",
                    )
                },
                cached=True,
            )
            result.item_id = request.item_id
            result.prompt_id = request.prompt_id or result.prompt_id
            result.sample = request.sample
            return result
        assert self._semaphore is not None, "use Gateway.run() or `async with gateway.session()`"
        async with self._semaphore:
            result = await self._ask(request, key)
        if result.status != "failed":  # an answer was paid for: never pay for it again
            self.cache.put(result.cache_entry())
        return result

    async def _ask(self, request: LLMRequest, key: str) -> LLMResult:
        assert self._clients and self._limiter is not None
        client = self._clients[hash(key) % len(self._clients)]
        messages = list(request.sent)
        max_tokens = request.params.get("max_tokens")
        tally = _Tally()
        error = "no attempt made"
        transport_failures = 0
        while transport_failures < self.config.max_attempts:
            estimate = estimate_tokens(messages, max_tokens)
            await self._limiter.acquire(estimate)
            tally.attempts += 1
            self.stats.http_requests += 1
            if request.prompt is not None:
                path, body = "/completions", {"model": self.endpoint.model, "prompt": request.prompt, **request.params}
                response_format = None
            else:
                path, body = "/chat/completions", {"model": self.endpoint.model, "messages": messages, **request.params}
                response_format = self._response_format(request.output)
                if response_format is not None:
                    body["response_format"] = response_format
            try:
                # The SDK's low-level post: its typed `create()` walks every message and schema through a
                # type-driven transform, and builds pydantic models of the answer (together most of the CPU
                # a request costs at high concurrency). The body here is plain JSON already, and we read the
                # few fields we need. Auth, errors and timeouts are the SDK's own.
                response = await client.post(
                    path,
                    cast_to=httpx.Response,
                    body=body,
                    options={"timeout": self.timeout_s},
                )
                tally.raw, tally.finish, used_in, used_out = _read_completion(response)
            except openai.APIStatusError as exc:
                status = exc.status_code
                if status == 400 and response_format is not None and self._refuses_format(exc):
                    self.structured = STRUCTURED_FALLBACK[self.structured]
                    continue  # the endpoint refused the response_format: ask again, more plainly
                if request.prompt is not None and status in (404, 405, 501):
                    error = f"HTTP {status}: {NO_COMPLETIONS}"
                    break
                if status == 429 or status >= 500 or status in (408, 409):
                    error = f"HTTP {status}: {_short(exc.message)}"
                    transport_failures += 1
                    await self._backoff(transport_failures, _retry_after(exc) if status == 429 else None)
                    continue
                error = f"HTTP {status}: {_short(exc.message)}"  # 400/401/403/404...: asking again won't help
                break
            except openai.APITimeoutError:
                error = f"timeout after {self.timeout_s:g}s"
            except openai.APIConnectionError as exc:
                error = f"connection error: {_short(str(exc.__cause__ or exc))}"
            except (openai.APIResponseValidationError, ValueError, KeyError, TypeError, IndexError) as exc:
                error = f"garbled response: {_short(str(exc))}"
            else:
                tally.tokens_in += used_in
                tally.tokens_out += used_out
                self._limiter.correct(estimate, used_in + used_out)
                problem = self._check(tally.raw, tally.finish, request.output, request.accept_cut)
                if isinstance(problem, dict) or problem is None:
                    return self._result(request, key, "ok", problem, None, tally)
                error = problem
                if tally.reasks >= self.config.max_reasks or request.prompt is not None:
                    return self._result(request, key, "invalid", None, error, tally)
                tally.reasks += 1
                messages = [
                    *messages,
                    {"role": "assistant", "content": tally.raw or ""},
                    {"role": "user", "content": _reask_message(error)},
                ]
                continue
            transport_failures += 1
            await self._backoff(transport_failures, None)
        return self._result(request, key, "failed", None, f"{error} (after {tally.attempts} attempts)", tally)

    @staticmethod
    def _refuses_format(exc: openai.APIStatusError) -> bool:
        text = str(exc.message).lower()
        return any(word in text for word in ("response_format", "json_schema", "schema", "grammar"))

    @staticmethod
    def _check(
        raw: str | None, finish: str | None, output: type[BaseModel] | None, accept_cut: bool = False
    ) -> dict | str | None:
        """None or the parsed answer when fine; otherwise the problem, for a re-ask."""
        if raw is None or not raw.strip():
            return "the answer was empty"
        if output is None:
            return None if finish != "length" or accept_cut else "the answer was cut off at max_tokens"
        try:
            return parse_answer(raw, output).model_dump()
        except ValueError as exc:
            cut = " (it was cut off at max_tokens: answer shorter)" if finish == "length" else ""
            return f"the answer did not validate: {exc}{cut}"

    async def _backoff(self, failures: int, retry_after: float | None) -> None:
        if failures >= self.config.max_attempts:
            return
        self.stats.retries += 1
        if retry_after is not None:  # the server said when: honour it (within reason)
            delay = min(retry_after, MAX_RETRY_AFTER_S)
        else:
            cap = min(self.config.backoff_max_s, self.config.backoff_s * 2 ** (failures - 1))
            delay = random.uniform(cap / 2, cap)  # exponential backoff with jitter
        await asyncio.sleep(delay)

    def _result(
        self, request: LLMRequest, key: str, status: str, parsed: dict | None, error: str | None, tally: _Tally
    ) -> LLMResult:
        return LLMResult(
            item_id=request.item_id,
            key=key,
            status=status,
            parsed=parsed,
            raw=tally.raw,
            error=error,
            model=self.endpoint.model,
            prompt_id=request.prompt_id,
            attempts=tally.attempts,
            reasks=tally.reasks,
            tokens_in=tally.tokens_in,
            tokens_out=tally.tokens_out,
            cost_usd=cost_of(self.config.prices, self.endpoint.model, tally.tokens_in, tally.tokens_out),
            finish_reason=tally.finish,
            latency_s=time.monotonic() - tally.started,
            sample=request.sample,
        )

    # -- many items ---------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def session(self):  # noqa: ANN201 - an async context manager
        await self._probe_local()
        # Several clients split the connections: httpx's pool assigns a request in time that grows with
        # the connections it holds, which shows at high concurrency.
        self._clients = [
            openai.AsyncOpenAI(
                base_url=self.endpoint.base_url,
                api_key=self.endpoint.api_key,
                max_retries=0,
                timeout=self.timeout_s,
            )
            for _ in range(max(1, -(-self.concurrency // CONNECTIONS_PER_CLIENT)))
        ]
        self._limiter = RateLimiter(self.config.rpm, self.config.tpm)
        self._semaphore = asyncio.Semaphore(self.concurrency)
        try:
            yield self
        finally:
            for client in self._clients:
                await client.close()
            self._clients = []

    async def run(
        self,
        requests: Iterable[LLMRequest],
        on_result: Callable[[LLMResult], Awaitable[None] | None] | None = None,
    ) -> GatewayStats:
        """Answer every request (cache first); `on_result` sees each result as it completes."""
        requests = list(requests)
        self.stats.requested += len(requests)
        async with self.session():
            pending = {asyncio.ensure_future(self.complete(r)) for r in requests}
            try:
                for future in asyncio.as_completed(pending):
                    result = await future
                    self.stats.add(result)
                    if on_result is not None:
                        maybe = on_result(result)
                        if asyncio.iscoroutine(maybe):
                            await maybe
            finally:
                for task in pending:
                    task.cancel()
        return self.stats

    def run_sync(
        self, requests: Iterable[LLMRequest], on_result: Callable[[LLMResult], None] | None = None
    ) -> GatewayStats:
        return asyncio.run(self.run(requests, on_result))


def _read_completion(response: httpx.Response) -> tuple[str | None, str | None, int, int]:
    """(content, finish_reason, prompt tokens, completion tokens) of a chat completion; ValueError if garbled."""
    data = response.json()
    choice = data["choices"][0]
    if "message" in choice:
        message = choice["message"]
        if not isinstance(message, dict):
            raise ValueError("no message in the first choice")
        content = message.get("content")
    else:  # a text completion
        content = choice["text"]
        if not isinstance(content, str):
            raise ValueError("no text in the first choice")
    usage = data.get("usage") or {}
    return (
        content,
        choice.get("finish_reason"),
        int(usage.get("prompt_tokens") or 0),
        int(usage.get("completion_tokens") or 0),
    )


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _reask_message(problem: str) -> str:
    return (
        f"That answer cannot be used: {problem}. Reply again with only the JSON object, exactly in the "
        "requested format, with every value in its allowed range."
    )
