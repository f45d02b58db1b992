"""Synth flows: textbooks (seeds -> generations) and exercises (from a textbook run) on the shared
LLM-stage flow, and the quality gates over every generation (near-duplicates with the dedup flow,
decontamination, embeddings and the educational score in runs of their own)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Literal

from prefect import flow
from pydantic import BaseModel

from curators.decontam.config import DecontamConfig
from curators.dedup.config import DedupConfig
from curators.errors import NothingToDo
from curators.filter.config import EmbedConfig
from curators.llm.config import LLMConfig
from curators.llm.endpoint import expected_model
from curators.llm.runner import LLMStageSummary
from curators.settings import Settings
from curators.synth.config import SynthConfig
from curators.synth.exercises import ExerciseRun, ExerciseStage
from curators.synth.textbooks import TextbookRun, TextbookStage
from flows.decontam import DecontamSummary, decontam_flow
from flows.dedup import DedupSummary, dedup_flow
from flows.llm_stage import run_llm_stage
from flows.runners import Runner, on_cluster, task_runner
from flows.score import embed_shards, score_shards
from warehouse.catalog import query
from warehouse.listings import latest_run, newest_filter, table_shards
from warehouse.lock import writer_lock


class GatesSummary(BaseModel):
    dedup: DedupSummary | None
    decontam: DecontamSummary
    scored: int
    filter_id: str | None
    skipped: list[str]
    seconds: float


def _settings(data_root: str, settings: Settings | None) -> Settings:
    return (settings or Settings()).model_copy(update={"data_root": Path(data_root).resolve()})


@flow(name="synth-textbooks")
def textbooks_flow(
    data_root: str,
    config: SynthConfig,
    llm: LLMConfig,
    settings: Settings | None = None,
    fresh: bool = False,
    wait: float | None = None,
) -> LLMStageSummary:
    """Draw `config.seeds.n` seeds and write one textbook per seed into `generations`."""
    settings = _settings(data_root, settings)
    run = TextbookRun(seeds=config.seeds, textbook=config.textbook, model=expected_model(settings, llm))
    return run_llm_stage(TextbookStage.name, data_root, run, llm, settings, fresh=fresh, wait=wait)


def latest_textbook_run(root: Path) -> str:
    run = latest_run(root, TextbookStage.name)
    if run is None:
        raise NothingToDo("no finished textbook run to write exercises from", hint="run `curate synth textbooks` first")
    return run.run_id


@flow(name="synth-exercises")
def exercises_flow(
    data_root: str,
    config: SynthConfig,
    llm: LLMConfig,
    textbook_run_id: str | None = None,
    settings: Settings | None = None,
    fresh: bool = False,
    wait: float | None = None,
) -> LLMStageSummary:
    """Exercises with worked solutions from each ok textbook of a textbook run (default: the latest)."""
    settings = _settings(data_root, settings)
    run = ExerciseRun(
        exercises=config.exercises,
        textbook_run_id=textbook_run_id or latest_textbook_run(Path(data_root).resolve()),
        model=expected_model(settings, llm),
    )
    return run_llm_stage(ExerciseStage.name, data_root, run, llm, settings, fresh=fresh, wait=wait)


@flow(name="synth-gates", task_runner=task_runner(Runner.local))
def gates_flow(
    data_root: str,
    config: SynthConfig,
    dedup: DedupConfig,
    decontam: DecontamConfig,
    embed: EmbedConfig,
    wait: float | None = None,
) -> GatesSummary:
    """Near-duplicates (among generations, and of curated documents), contamination, and scores."""
    root = Path(data_root).resolve()
    started = time.monotonic()
    with writer_lock(root, wait=wait, command="curate synth gates"):
        shards = table_shards(root, "generations")
        if not shards:
            raise NothingToDo("no generations yet", hint="run `curate synth textbooks` first")
        skipped: list[str] = []
        _, docs = query(root, "SELECT count(*) FROM docs")
        against = ["docs"] if config.dedup_against_docs and docs[0][0] else []
        dedup_summary = dedup_flow(str(root), dedup, target="generations", against=against, wait=wait)
        decontam_summary = decontam_flow(str(root), decontam, target="generations", wait=wait)
        # Embeddings always (the diversity report's neighbours use them); scores when a filter exists.
        embed_run_id = embed_shards(root, "generations", shards, embed, wait)
        scored, filter_id = 0, None
        flt = newest_filter(root)
        if flt is None:
            skipped.append("score: no filter yet (`curate train`)")
        else:
            filter_id = flt[0]
            _, scored = score_shards(root, "generations", embed_run_id, flt, embed, wait)
    return GatesSummary(
        dedup=dedup_summary,
        decontam=decontam_summary,
        scored=scored,
        filter_id=filter_id,
        skipped=skipped,
        seconds=time.monotonic() - started,
    )


class SynthSummary(BaseModel):
    generated: LLMStageSummary | None  # the textbooks or exercises run
    gates: GatesSummary | None


@flow(name="synth")
def synth_flow(
    data_root: str,
    what: Literal["textbooks", "exercises", "gates"],
    config: SynthConfig,
    llm: LLMConfig,
    dedup: DedupConfig,
    decontam: DecontamConfig,
    embed: EmbedConfig,
    gates: bool = True,
    settings: Settings | None = None,
    fresh: bool = False,
    wait: float | None = None,
    dask_address: str | None = None,
) -> SynthSummary:
    """`curate synth`: write textbooks or exercises (each batch a task on the Dask scheduler at `dask_address`
    when there is one), then (with `gates`) run the quality gates over every generation, holding the writer lock
    for both."""
    root = Path(data_root).resolve()
    generated = None
    with writer_lock(root, wait=wait, command=f"curate synth {what}"):
        if what == "textbooks":
            write = on_cluster(textbooks_flow, dask_address)
            generated = write(str(root), config, llm, settings=settings, fresh=fresh, wait=wait)
        elif what == "exercises":
            write = on_cluster(exercises_flow, dask_address)
            generated = write(str(root), config, llm, settings=settings, fresh=fresh, wait=wait)
        checked = gates_flow(str(root), config, dedup, decontam, embed, wait=wait) if gates or what == "gates" else None
    return SynthSummary(generated=generated, gates=checked)
