"""Label flow: choose a sample, ask the LLM through the gateway, write `labels` shards."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from curators.config import EmbedConfig, LabelConfig, LLMConfig, Settings, api_key_from_env
from curators.endpoint import context_for, endpoint_for, expected_model
from curators.label import LabelSummary, label_sample, plan_batches, summarize
from curators.llm import Endpoint, GatewayStats
from flows import progress
from warehouse.runs import open_run


@task(name="label-sample", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def label_task(
    data_root: str,
    run_id: str,
    config: LabelConfig,
    llm: LLMConfig,
    embed: EmbedConfig,
    base_url: str,
    model: str,
    local: bool,
) -> LabelSummary:
    # The API key is read here, from the environment, so it never becomes a Prefect parameter.
    key = None if local else api_key_from_env()
    endpoint = Endpoint(base_url=base_url, model=model, local=local, api_key=key or "not-needed")
    return label_sample(Path(data_root), run_id, config, llm, endpoint, on_result=progress.get(data_root), embed=embed)


@flow(name="label")
def label_flow(
    data_root: str,
    config: LabelConfig,
    llm: LLMConfig,
    embed: EmbedConfig | None = None,
    base_url: str | None = None,
    model: str | None = None,
    fresh: bool = False,
    wait: float | None = None,
) -> LabelSummary:
    """Label `config.n` documents of the warehouse at `data_root` for educational value."""
    root = str(Path(data_root).resolve())
    embed = embed or EmbedConfig()
    key = api_key_from_env()
    settings = Settings(data_root=Path(root), llm_base_url=base_url, llm_model=model, llm_api_key=key)
    with open_run(Path(root), "label", config, fresh=fresh, wait=wait) as run:
        model_name = expected_model(settings, llm)
        batches = plan_batches(Path(root), run.run_id, config, model_name, embed)
        if all(b.done for b in batches):  # nothing to ask: no endpoint is started
            summary = summarize(Path(root), run.run_id, model_name, batches, GatewayStats())
        else:
            n_ctx = context_for(config.max_doc_tokens + 700, 256)
            with endpoint_for(settings, llm, n_ctx=n_ctx) as endpoint:
                summary = label_task(
                    root, run.run_id, config, llm, embed, endpoint.base_url, endpoint.model, endpoint.local
                )
        run.counts = summary.model_dump(exclude={"run_id", "model"})
    return summary
