"""Instruct flows: instructions (four methods), responses, judge, preferences, each on the shared LLM-stage
flow, and the gates over instructions and responses (near-duplicate instructions with the dedup flow,
benchmark items in instructions and responses with the decontam flow).

A responses, judge or preferences run depends on what it reads (a digest of the usable instructions, of the
rateable responses, of the ratings): new input opens a new run, and what was already answered comes from the
response cache, never paid twice.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Literal

from prefect import flow
from pydantic import BaseModel

from curators.decontam.config import DecontamConfig
from curators.dedup.config import DedupConfig
from curators.errors import ConfigError, CurateError, NothingToDo
from curators.instruct import store
from curators.instruct.config import InstructConfig, MagpieConfig, ResponseModel
from curators.instruct.instructions import STAGES as INSTRUCTION_STAGES
from curators.instruct.instructions import InstructionRun, Method
from curators.instruct.judge import JudgeRun, JudgeStage
from curators.instruct.preferences import PreferenceRun, PreferenceStage
from curators.instruct.responses import ResponseRun, ResponseStage
from curators.llm.chat_template import ChatTemplate, TurnPrefix, template_of_gguf, user_turn_prefix
from curators.llm.config import LLMConfig
from curators.llm.endpoint import expected_model
from curators.llm.gateway import NO_COMPLETIONS
from curators.llm.local_server import load_state, local_alias, resolve_model
from curators.llm.runner import LLMStageSummary
from curators.settings import Settings
from flows.decontam import DecontamSummary, decontam_flow
from flows.dedup import DedupSummary, dedup_flow
from flows.llm_stage import merge_rounds, run_llm_stage
from flows.runners import on_cluster
from warehouse.catalog import query
from warehouse.listings import table_shards
from warehouse.lock import writer_lock

Step = Literal["instructions", "responses", "judge", "preferences", "gates"]


class InstructGatesSummary(BaseModel):
    dedup: DedupSummary | None
    decontam: list[DecontamSummary]
    seconds: float


class InstructSummary(BaseModel):
    generated: LLMStageSummary | None
    gates: InstructGatesSummary | None


def _settings(data_root: str, settings: Settings | None) -> Settings:
    return (settings or Settings()).model_copy(update={"data_root": Path(data_root).resolve()})


def magpie_turn(settings: Settings, llm: LLMConfig, magpie: MagpieConfig) -> TurnPrefix:
    """The user-turn prefix of the model Magpie asks: from the configured template, else from the GGUF of the
    embedded model (its own metadata)."""
    if magpie.chat_template:
        template = ChatTemplate(magpie.chat_template, magpie.bos_token, magpie.eos_token)
    elif settings.llm_base_url:
        raise ConfigError(
            f"Magpie needs the chat template of {settings.llm_model or 'the remote model'}",
            hint="set instruct.instructions.magpie.chat_template (with bos_token/eos_token) to the model's Jinja "
            "chat template, from its tokenizer_config.json",
        )
    else:
        detached = load_state(Path(settings.data_root))
        if detached is not None and detached.model != local_alias(llm.local_model):
            raise ConfigError(
                f"the detached server serves {detached.model}, not llm.local_model {llm.local_model}",
                hint="set llm.local_model to the served model, or give instruct.instructions.magpie.chat_template",
            )
        template = template_of_gguf(resolve_model(llm.local_model))
    return user_turn_prefix(template, magpie.system)


def _check_completions(root: Path, summary: LLMStageSummary) -> None:
    """A Magpie run whose every request found no /v1/completions: a clear error, not a table of failures."""
    if summary.ok or not summary.failed:
        return
    _, rows = query(
        root, "SELECT reason FROM instructions WHERE run_id = ? AND status = 'failed' LIMIT 1", [summary.run_id]
    )
    if rows and NO_COMPLETIONS in (rows[0][0] or ""):
        raise CurateError(
            "Magpie cannot run on this endpoint: " + NO_COMPLETIONS,
            hint="use another method (--method self-instruct|evol|grounded), or an endpoint with /v1/completions",
        )


@flow(name="instruct-instructions")
def instructions_flow(
    data_root: str,
    method: Method,
    config: InstructConfig,
    llm: LLMConfig,
    settings: Settings | None = None,
    fresh: bool = False,
    wait: float | None = None,
) -> LLMStageSummary:
    """New instructions by `method` into `instructions`, each with its status and reason."""
    settings = _settings(data_root, settings)
    run = InstructionRun(method=method, instructions=config.instructions, model=expected_model(settings, llm))
    if method == "magpie":
        turn = magpie_turn(settings, llm, config.instructions.magpie)
        run = run.model_copy(update={"magpie_prefix": turn.prefix, "magpie_stop": list(turn.stop)})
    summary = run_llm_stage(INSTRUCTION_STAGES[method].name, data_root, run, llm, settings, fresh=fresh, wait=wait)
    if method == "magpie":
        _check_completions(Path(data_root).resolve(), summary)
    return summary


def _answering_endpoint(
    settings: Settings, llm: LLMConfig, answering: ResponseModel | None
) -> tuple[Settings, LLMConfig, str | None]:
    """The settings, LLM config and key variable a responses run of `answering` uses: a model at an endpoint of
    its own (sent only the key of the variable it names, or none: never the configured endpoint's key), a
    model by name at the configured endpoint, or an embedded model on its own server."""
    if answering is None:
        return settings, llm, None
    if answering.base_url:
        if answering.api_key_env and not os.environ.get(answering.api_key_env):
            raise ConfigError(
                f"the key of {answering.model} at {answering.base_url} is read from ${answering.api_key_env}, "
                "which is not set",
                hint=f"export {answering.api_key_env}=... (or drop api_key_env for an endpoint without a key)",
            )
        update = {"llm_base_url": answering.base_url, "llm_model": answering.model, "llm_api_key": None}
        return settings.model_copy(update=update), llm, answering.api_key_env or ""
    if settings.llm_base_url:
        return settings.model_copy(update={"llm_model": answering.model}), llm, None
    return settings, llm.model_copy(update={"local_model": answering.model}), None


@flow(name="instruct-responses")
def responses_flow(
    data_root: str,
    config: InstructConfig,
    llm: LLMConfig,
    settings: Settings | None = None,
    fresh: bool = False,
    wait: float | None = None,
) -> LLMStageSummary:
    """`per_instruction` responses to every usable instruction."""
    settings = _settings(data_root, settings)
    root = Path(data_root).resolve()
    usable = store.usable_instructions(root, limit=config.responses.max_instructions)
    if not usable:
        raise NothingToDo("no usable instruction to answer", hint="run `curate synth instructions` first")
    digest = store.digest([i["id"] for i in usable])
    models = config.responses.answering_models()
    summaries = []
    for index, answering in enumerate(models or [None]):
        settings_k, llm_k, key_env = _answering_endpoint(settings, llm, answering)
        run = ResponseRun(
            responses=config.responses,
            model=expected_model(settings_k, llm_k),
            instructions_digest=digest,
            model_index=index,
            models=max(1, len(models)),
        )
        summaries.append(
            run_llm_stage(
                ResponseStage.name, data_root, run, llm_k, settings_k, fresh=fresh, wait=wait, api_key_env=key_env
            )
        )
    return merge_rounds(summaries, same_run=False)


def _unusable_hint(outcomes: dict[str, int], config: InstructConfig) -> str:
    if "truncated" in outcomes:
        return (
            f"truncated responses reached the limit instruct.responses.max_tokens (now {config.responses.max_tokens}): "
            "raise it and rerun `curate synth responses`; "
            '`curate sql "SELECT status, reason, count(*) FROM responses GROUP BY ALL"` shows why each was left out'
        )
    return '`curate sql "SELECT status, reason, count(*) FROM responses GROUP BY ALL"` shows why each was left out'


@flow(name="instruct-judge")
def judge_flow(
    data_root: str,
    config: InstructConfig,
    llm: LLMConfig,
    settings: Settings | None = None,
    fresh: bool = False,
    wait: float | None = None,
) -> LLMStageSummary:
    """Ratings of every ok, uncontaminated response of a usable instruction."""
    settings = _settings(data_root, settings)
    responses = store.responses_to_rate(Path(data_root).resolve())
    if not responses:
        outcomes = store.response_outcomes(Path(data_root).resolve())
        if not outcomes:
            raise NothingToDo("no response to rate", hint="run `curate synth responses` first")
        raise NothingToDo(
            f"no response to rate: none of the {sum(outcomes.values())} responses is usable ("
            + ", ".join(f"{k} {n}" for k, n in outcomes.items())
            + ")",
            hint=_unusable_hint(outcomes, config),
        )
    run = JudgeRun(
        judge=config.judge,
        model=expected_model(settings, llm),
        responses_digest=store.digest([r["id"] for r in responses]),
    )
    return run_llm_stage(JudgeStage.name, data_root, run, llm, settings, fresh=fresh, wait=wait)


@flow(name="instruct-preferences")
def preferences_flow(
    data_root: str,
    config: InstructConfig,
    llm: LLMConfig,
    settings: Settings | None = None,
    fresh: bool = False,
    wait: float | None = None,
) -> LLMStageSummary:
    """Pairs from the judge's ratings, each confirmed in both orders (see `preferences` and `dpo`)."""
    settings = _settings(data_root, settings)
    judge = expected_model(settings, llm)
    ratings = store.ratings_to_pair(Path(data_root).resolve(), judge)
    if not ratings:
        raise NothingToDo(f"no ratings by {judge} to pair", hint="run `curate synth judge` first (with this model)")
    run = PreferenceRun(
        preferences=config.preferences,
        model=judge,
        ratings_digest=store.digest([(r["response_id"], r["overall"]) for r in ratings]),
    )
    return run_llm_stage(PreferenceStage.name, data_root, run, llm, settings, fresh=fresh, wait=wait)


@flow(name="instruct-gates")
def instruct_gates_flow(
    data_root: str, dedup: DedupConfig, decontam: DecontamConfig, wait: float | None = None
) -> InstructGatesSummary:
    """Near-duplicate instructions (exact and MinHash), and benchmark items in instructions and responses."""
    root = Path(data_root).resolve()
    started = time.monotonic()
    with writer_lock(root, wait=wait, command="curate synth gates"):
        if not table_shards(root, "instructions"):
            raise NothingToDo("no instructions yet", hint="run `curate synth instructions` first")
        found = dedup_flow(str(root), dedup, target="instructions", wait=wait)
        checked = [decontam_flow(str(root), decontam, target="instructions", wait=wait)]
        if table_shards(root, "responses"):
            checked.append(decontam_flow(str(root), decontam, target="responses", wait=wait))
    return InstructGatesSummary(dedup=found, decontam=checked, seconds=time.monotonic() - started)


@flow(name="instruct")
def instruct_flow(
    data_root: str,
    step: Step,
    config: InstructConfig,
    llm: LLMConfig,
    dedup: DedupConfig,
    decontam: DecontamConfig,
    method: Method = "self-instruct",
    gates: bool = True,
    settings: Settings | None = None,
    fresh: bool = False,
    wait: float | None = None,
    dask_address: str | None = None,
) -> InstructSummary:
    """`curate synth instructions|responses|judge|preferences`: the step (each batch a task on the Dask
    scheduler at `dask_address` when there is one), then (with `gates`, after new instructions or responses)
    the gates, holding the writer lock for both."""
    root = Path(data_root).resolve()
    generated = None
    with writer_lock(root, wait=wait, command=f"curate synth {step}"):
        common = {"settings": settings, "fresh": fresh, "wait": wait}
        if step == "instructions":
            generated = on_cluster(instructions_flow, dask_address)(str(root), method, config, llm, **common)
        elif step == "responses":
            generated = on_cluster(responses_flow, dask_address)(str(root), config, llm, **common)
        elif step == "judge":
            generated = on_cluster(judge_flow, dask_address)(str(root), config, llm, **common)
        elif step == "preferences":
            generated = on_cluster(preferences_flow, dask_address)(str(root), config, llm, **common)
        run_gates = step == "gates" or (gates and step in ("instructions", "responses"))
        checked = instruct_gates_flow(str(root), dedup, decontam, wait=wait) if run_gates else None
    return InstructSummary(generated=generated, gates=checked)
