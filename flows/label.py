"""Label flow: the label stage (`curators.filter.label`) on the shared LLM-stage flow."""

from __future__ import annotations

from prefect import flow

from curators.filter.config import EmbedConfig, LabelConfig
from curators.filter.label import LabelRun, LabelStage
from curators.llm.config import LLMConfig
from curators.llm.runner import LLMStageSummary
from curators.settings import Settings
from flows.llm_stage import run_llm_stage


@flow(name="label")
def label_flow(
    data_root: str,
    config: LabelConfig,
    llm: LLMConfig,
    embed: EmbedConfig | None = None,
    settings: Settings | None = None,
    fresh: bool = False,
    wait: float | None = None,
) -> LLMStageSummary:
    """Label `config.n` documents of the warehouse at `data_root` for educational value."""
    run = LabelRun(label=config, embed=embed or EmbedConfig())
    return run_llm_stage(LabelStage.name, data_root, run, llm, settings or Settings(), fresh=fresh, wait=wait)
