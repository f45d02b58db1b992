"""The one flow shape of every LLM stage (label, textbooks, exercises, and the stages to come).

`run_llm_stage` opens (or resumes) the stage's run, builds the stage's declaration, and asks the shared
runner (`curators.llm.runner`) whether anything is pending: with nothing pending it summarises the run
from its shards and no endpoint is started; otherwise it starts the endpoint (a configured one, a
detached embedded server, or an embedded server for this run) and runs one task.

Tasks receive ids, paths and config models only: the task rebuilds the stage from `STAGES`, and reads
the API key from the environment (`flows.env`), so it never becomes a Prefect parameter.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from prefect import get_run_logger, task, unmapped
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from curators.filter.label import LabelStage
from curators.instruct.instructions import STAGES as INSTRUCTION_STAGES
from curators.instruct.judge import JudgeStage
from curators.instruct.preferences import PreferenceStage
from curators.instruct.responses import ResponseStage
from curators.llm.config import LLMConfig
from curators.llm.endpoint import context_for, endpoint_for, expected_model
from curators.llm.gateway import Endpoint, GatewayStats
from curators.llm.runner import LLMStage, LLMStageSummary, plan, run_stage, summarize
from curators.llm.store import Batch, statuses_of_run
from curators.settings import Settings, api_key_from_env
from curators.synth.exercises import ExerciseStage
from curators.synth.textbooks import TextbookStage
from flows import progress
from flows.env import flow_settings
from flows.runners import dask_workers, on_this_machine
from warehouse.runs import open_run

# Stage name -> its declaration, built from (data root, run id, run config, model[, round]).
STAGES: dict[str, type[LLMStage]] = {
    s.name: s
    for s in (
        LabelStage,
        TextbookStage,
        ExerciseStage,
        *INSTRUCTION_STAGES.values(),
        ResponseStage,
        JudgeStage,
        PreferenceStage,
    )
}


def build_stage(name: str, root: Path, run_id: str, config: BaseModel, model: str, round: int = 0) -> LLMStage:
    if round:
        return STAGES[name](root, run_id, config, model, round=round)
    return STAGES[name](root, run_id, config, model)


@task(name="llm-stage", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def llm_stage_task(
    stage: str,
    data_root: str,
    run_id: str,
    config: BaseModel,
    llm: LLMConfig,
    base_url: str,
    model: str,
    local: bool,
    round: int = 0,
    only: list[int] | None = None,
    api_key_env: str | None = None,
) -> LLMStageSummary:
    """Write the stage's pending batches (`only`: these batches). The key is read here, from the variable
    `api_key_env` names (default: CURATE_LLM_API_KEY / OPENAI_API_KEY), never passed as a parameter."""
    key = None if local else api_key_from_env(variable=api_key_env)
    endpoint = Endpoint(base_url=base_url, model=model, local=local, api_key=key or "not-needed")
    root = Path(data_root)
    built = build_stage(stage, root, run_id, config, model, round)
    return run_stage(root, run_id, built, llm, endpoint, on_result=progress.get("llm", data_root), only=only)


def split_limits(llm: LLMConfig, parts: int) -> LLMConfig:
    """Each of `parts` tasks that write at the same time gets its share of the limits (requests in flight,
    requests and tokens per minute), so that together they ask the endpoint no more than one process would."""
    return llm.model_copy(
        update={
            "concurrency": max(1, llm.concurrency // parts),
            "rpm": None if llm.rpm is None else max(1, llm.rpm // parts),
            "tpm": None if llm.tpm is None else max(1, llm.tpm // parts),
        }
    )


def write_batches(
    stage: str,
    root: Path,
    run_id: str,
    config: BaseModel,
    llm: LLMConfig,
    ep: Endpoint,
    built: LLMStage,
    round: int,
    api_key_env: str | None = None,
) -> LLMStageSummary:
    """The round's pending batches: in this process, or each batch a task on the flow's Dask cluster (`--runner
    dask`) with the limits split between the tasks that run at once. The embedded endpoint listens on loopback:
    its batches go to the cluster only when every worker runs on this machine. A stage whose batches share
    state (a pool filled as answers arrive) writes its round here."""
    _, batches = plan(root, run_id, built)
    todo = [b.index for b in batches if not b.done]
    workers = dask_workers()
    if workers and built.batches_share_state:
        get_run_logger().info(
            "%s: the round's batches run here, one after another: each answer is checked against the ones before",
            stage,
        )
        workers = {}
    if workers and ep.local and not on_this_machine(list(workers)):
        get_run_logger().warning(
            "the LLM batches run here, not on the cluster: the embedded endpoint listens on 127.0.0.1, which the "
            "workers cannot reach (configure an endpoint they reach: settings.llm_base_url)"
        )
        workers = {}
    if not workers or len(todo) < 2:
        return llm_stage_task(
            stage, str(root), run_id, config, llm, ep.base_url, ep.model, ep.local, round, api_key_env=api_key_env
        )
    parts = min(len(todo), sum(workers.values()))
    share = split_limits(llm, parts)
    futures = llm_stage_task.map(
        *(unmapped(v) for v in (stage, str(root), run_id, config, share, ep.base_url, ep.model, ep.local, round)),
        only=[[index] for index in todo],
        api_key_env=unmapped(api_key_env),
    )
    return merge_parts([f.result() for f in futures], root, run_id, built, batches)


def merge_parts(
    parts: list[LLMStageSummary], root: Path, run_id: str, stage: LLMStage, batches: list[Batch]
) -> LLMStageSummary:
    """One summary of a round written by several tasks: what they paid added up; the batches and the rows by
    status read once all of them are done."""
    paid = {f: sum(getattr(p, f) for p in parts) for f in ("cache_hits", "http_requests", "tokens_in", "tokens_out")}
    return parts[0].model_copy(
        update={
            **paid,
            "cost_usd": sum(p.cost_usd for p in parts),
            "batches_skipped": sum(b.done for b in batches),
            "by_status": statuses_of_run(root, stage.table, run_id),
        }
    )


def run_llm_stage(
    stage: str,
    data_root: str,
    config: BaseModel,
    llm: LLMConfig,
    settings: Settings,
    fresh: bool = False,
    wait: float | None = None,
    api_key_env: str | None = None,
) -> LLMStageSummary:
    """One run of an LLM stage: resume or open the run, start the endpoint only if a batch is pending. A stage
    in rounds is built once per round (each round reads what the rounds before wrote); the endpoint, once
    started, serves every later round. `api_key_env`: for an endpoint of its own, the variable that holds its
    key (`""`: none), read where the requests are sent."""
    root = Path(data_root).resolve()
    settings = flow_settings(settings).model_copy(update={"data_root": root})
    model = expected_model(settings, llm)
    with open_run(root, stage, config, fresh=fresh, wait=wait) as run, contextlib.ExitStack() as started:
        built = build_stage(stage, root, run.run_id, config, model)
        summaries, ep = [], None
        for round in range(built.rounds):
            if round:
                built = build_stage(stage, root, run.run_id, config, model, round)
            _, batches = plan(root, run.run_id, built)
            if all(b.done for b in batches):  # nothing to ask: no endpoint is started for it
                summaries.append(summarize(root, run.run_id, built, batches, GatewayStats()))
                continue
            if ep is None:
                n_ctx = context_for(built.prompt_tokens, built.max_tokens)
                ep = started.enter_context(endpoint_for(settings, llm, n_ctx=n_ctx))
            summaries.append(write_batches(stage, root, run.run_id, config, llm, ep, built, round, api_key_env))
        summary = merge_rounds(summaries)
        run.counts = summary.counts()
    return summary


def merge_rounds(summaries: list[LLMStageSummary], same_run: bool = True) -> LLMStageSummary:
    """One summary of a run's rounds: counts and usage added up; rows by status are the run's (the last). Of
    several runs (`same_run=False`, e.g. one per model): their rows by status added up too, their ids joined."""
    if len(summaries) == 1:
        return summaries[0]
    last = summaries[-1]
    if not same_run:
        by_status: dict[str, int] = {}
        for s in summaries:
            for status, n in s.by_status.items():
                by_status[status] = by_status.get(status, 0) + n
        last = last.model_copy(
            update={
                "by_status": by_status,
                "run_id": ", ".join(s.run_id for s in summaries),
                "model": ", ".join(s.model for s in summaries),
            }
        )
    added = {
        field: sum(getattr(s, field) for s in summaries)
        for field in (
            "requested",
            "batches",
            "batches_skipped",
            "cache_hits",
            "http_requests",
            "tokens_in",
            "tokens_out",
        )
    }
    return last.model_copy(update={**added, "cost_usd": sum(s.cost_usd for s in summaries)})
