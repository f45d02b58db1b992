"""Which endpoint an LLM stage talks to.

1. A configured endpoint (`settings.llm_base_url` / CURATE_LLM_BASE_URL): OpenAI, vLLM, TGI, Ollama...
2. Else a detached embedded server of this data root (`curate llm serve --detach`), if it answers.
3. Else an embedded server started for the stage and stopped when it ends.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from curators.errors import ConfigError
from curators.llm.config import LLMConfig
from curators.llm.gateway import Endpoint
from curators.llm.local_server import load_state, local_alias, running_server
from curators.settings import Settings


def context_for(prompt_tokens: int, max_tokens: int) -> int:
    """A context window for the embedded server: the longest prompt and answer, with a margin, in
    steps of 512 tokens (the budget counts ~4 characters a token; code packs more tokens per char)."""
    need = int(prompt_tokens * 1.5) + max_tokens + 256
    return max(2048, -(-need // 512) * 512)


def expected_model(settings: Settings, llm: LLMConfig) -> str:
    """The model name `endpoint_for` will talk to, known without starting anything."""
    if settings.llm_base_url:
        return settings.llm_model or ""
    detached = load_state(Path(settings.data_root))
    if detached is not None:
        return detached.model
    return local_alias(llm.local_model)


@contextlib.contextmanager
def endpoint_for(settings: Settings, llm: LLMConfig, n_ctx: int | None = None) -> Iterator[Endpoint]:
    if settings.llm_base_url:
        if not settings.llm_model:
            raise ConfigError(
                f"an endpoint is configured ({settings.llm_base_url}) but no model",
                hint="set CURATE_LLM_MODEL (or settings.llm_model in curate.yaml)",
            )
        key = settings.llm_api_key.get_secret_value() if settings.llm_api_key else "not-needed"
        yield Endpoint(base_url=settings.llm_base_url, model=settings.llm_model, api_key=key)
        return
    detached = load_state(Path(settings.data_root))
    if detached is not None:
        yield Endpoint(
            base_url=detached.base_url,
            model=detached.model,
            local=True,
            slots=detached.slots,
            engine=detached.engine,
        )
        return
    with running_server(
        llm.local_model,
        n_ctx=llm.local_n_ctx or n_ctx or 4096,
        n_threads=llm.local_threads,
        log_dir=Path(settings.data_root) / "llm",
        engine=llm.local_engine,
        slots=llm.local_slots,
    ) as server:
        yield Endpoint(
            base_url=server.base_url, model=server.model, local=True, slots=server.slots, engine=server.engine
        )
