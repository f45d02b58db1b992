"""Configuration of LLM calls: limits, retries, structured output, prices, the embedded endpoint."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from curators.settings import StrictModel


class Price(StrictModel):
    """USD per million tokens."""

    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)


class LLMConfig(StrictModel):
    """How LLM calls are made: limits, retries, structured output, prices, and the embedded endpoint.

    The endpoint itself (base URL, model, key) is in `settings`; with no base URL the embedded
    llama.cpp server is started on `local_model`.
    """

    local_model: str = Field(
        default="qwen2.5-coder-1.5b-instruct-q4_k_m",
        description="Packaged model name or .gguf path for the embedded endpoint.",
    )
    local_n_ctx: int | None = Field(
        default=None, gt=0, description="Context of the embedded server (default: sized to the prompts)."
    )
    local_threads: int | None = Field(
        default=None, gt=0, description="Threads of the embedded server (default: all cores)."
    )
    local_engine: Literal["auto", "llama-server", "llama-cpp-python"] = Field(
        default="auto",
        description="Server of the embedded endpoint: auto = llama.cpp's llama-server when it is built for this "
        "CPU (`make llama-server`), else llama-cpp-python.",
    )
    local_slots: int | None = Field(
        default=None,
        gt=0,
        le=64,
        description="Requests llama-server decodes together (default: 4 on up to 2 cores, 2 per core above).",
    )
    concurrency: int = Field(
        default=16,
        gt=0,
        description="Requests in flight (the embedded server: its slots; llama-cpp-python: 1).",
    )
    rpm: int | None = Field(default=None, gt=0, description="Requests per minute limit.")
    tpm: int | None = Field(default=None, gt=0, description="Tokens per minute limit (prompt + completion).")
    timeout_s: float = Field(
        default=120.0,
        gt=0,
        description="Seconds before a request is abandoned and retried (the embedded server: times its slots, "
        "which share its decoding).",
    )
    max_attempts: int = Field(
        default=6, ge=1, description="Attempts per request on 429/5xx/timeouts/connection errors."
    )
    max_reasks: int = Field(default=2, ge=0, description="Re-asks after an answer that does not validate.")
    backoff_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles each attempt, with jitter.")
    backoff_max_s: float = Field(default=60.0, gt=0)
    structured: Literal["auto", "json_schema", "json_object_schema", "json_object", "none"] = Field(
        default="auto",
        description="How to ask for JSON: auto = json_schema (integer bounds kept) for llama-server, json_object "
        "with a schema (llama.cpp grammar, integer ranges as enums) for llama-cpp-python, json_schema elsewhere; "
        "falls back when an endpoint refuses it.",
    )
    prices: dict[str, Price] = Field(default_factory=dict, description="Per model: USD per million tokens.")
