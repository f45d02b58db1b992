"""Label a sample of documents for educational value with an LLM: a stage on the shared LLM-stage runner.

The sample is chosen reproducibly (`curators.filter.sampling`) and stored in `label_sample`, so a resumed
run labels exactly the same documents; each document is cut to a token budget (recorded), rendered with
the prose or the code prompt, and asked once (answers are cached: a rerun pays for nothing it already
has). A failure stays a failure with its reason; it is never a score of 0.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from curators.errors import CurateError
from curators.filter import store
from curators.filter.config import EmbedConfig, LabelConfig
from curators.filter.sampling import Choice, choose, choose_uncertain
from curators.llm.config import LLMConfig
from curators.llm.gateway import Endpoint, GatewayStats, LLMRequest, LLMResult
from curators.llm.prompts import Prompt, load_prompt
from curators.llm.runner import LLMStage, LLMStageSummary, run_stage
from warehouse.listings import newest_filter

CHARS_PER_TOKEN = 4  # budget arithmetic; a document's real token count varies by tokenizer
ANSWER_TOKENS = 256  # the JSON score and its reason
PROMPT_OVERHEAD_TOKENS = 700  # the rubric around the document


class LabelRun(BaseModel):
    """What a label run depends on: its config, and the embedder its sample is spread over."""

    label: LabelConfig
    embed: EmbedConfig


@dataclass
class LabelItem:
    id: str
    text: str
    language: str | None  # programming language of a code document, else None


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


def _draw_sample(root: Path, config: LabelConfig, embed: EmbedConfig) -> list[Choice]:
    if not config.more:
        return choose(root, config.n, config.strategy, config.seed, embed, config.quality_gate)
    from curators.filter.embed import get_embedder
    from curators.filter.forest import load_filter

    newest = newest_filter(root)
    if newest is None:
        raise CurateError("a top-up round needs a filter", hint="train one first: `curate train`")
    flt = load_filter(Path(newest[1]))
    model_id = get_embedder(embed).model_id
    if flt.card["embedder"] != model_id:
        raise CurateError(
            f"the newest filter was trained on {flt.card['embedder']} embeddings, not {model_id}",
            hint="set `embed:` in curate.yaml as it was for training",
        )
    return choose_uncertain(root, config.more, config.seed, flt.predict, embed, config.quality_gate)


def sample_for_run(root: Path, run_id: str, config: LabelConfig, embed: EmbedConfig | None) -> list[LabelItem]:
    """The documents of this label run: drawn once and stored in `label_sample`, then read back on resume."""
    ids = store.stored_sample(root, run_id)
    if ids is None:
        choices = _draw_sample(root, config, embed or EmbedConfig())
        strategy = "uncertain" if config.more else config.strategy
        rows = [
            dict(id=c.id, source=c.source, reason=c.reason, cluster=c.cluster, proba=c.proba, strategy=strategy)
            for c in choices
        ]
        store.write_sample(root, run_id, rows)
        ids = [c.id for c in choices]
    found = store.docs_to_label(root, ids)
    return [LabelItem(id=i, text=found[i][0], language=found[i][1]) for i in ids if i in found]


class LabelStage(LLMStage):
    """The label stage on the LLM-stage runner: one `labels` row per sampled document."""

    name = "label"
    table = "labels"

    config: LabelConfig

    def __init__(self, root: Path, run_id: str, config: LabelRun, model: str) -> None:
        prompts = [config.label.prompt] if config.label.prompt else ["edu", "edu-code"]
        super().__init__(run_id, model, config.label, tuple(load_prompt(p).prompt_id for p in prompts))
        self.items = sample_for_run(root, run_id, config.label, config.embed)
        self.prompt_tokens = config.label.max_doc_tokens + PROMPT_OVERHEAD_TOKENS
        self.max_tokens = ANSWER_TOKENS
        self._requests: list[LLMRequest] = []
        self._sent: dict[str, tuple[bool, int]] = {}  # doc id -> (truncated, chars sent)
        for item in self.items:
            request, truncated, chars = build_request(item, self.config)
            self._requests.append(request)
            self._sent[item.id] = (truncated, chars)

    def requests(self) -> list[LLMRequest]:
        return list(self._requests)

    def rows(self, result: LLMResult) -> list[dict[str, Any]]:
        truncated, chars = self._sent[result.item_id]
        return [label_row(result, truncated, chars, self.run_id)]


def label_sample(
    root: Path,
    run_id: str,
    config: LabelConfig,
    llm: LLMConfig,
    endpoint: Endpoint,
    on_result: Callable[[LLMResult, GatewayStats], None] | None = None,
    embed: EmbedConfig | None = None,
) -> LLMStageSummary:
    """Label the sample of run `run_id` through `endpoint` (the label stage, run by the shared runner)."""
    stage = LabelStage(root, run_id, LabelRun(label=config, embed=embed or EmbedConfig()), endpoint.model)
    return run_stage(root, run_id, stage, llm, endpoint, on_result)
