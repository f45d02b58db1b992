"""`curate run` as one Prefect flow: the stages as subflows, each on by config as before, and any part of
the sequence selectable (`stages`, or `start`/`until`), so a deployment can schedule the whole job.

ingest -> quality (the heuristic rules and language ID; `run.quality`) -> label (run.label_n documents, of those
that pass) -> train (when the labels allow it; else skipped with the reason)
-> score (with the filter just trained, or the newest one when train is not selected) -> dedup -> decontam
(benchmark items in the documents; skipped with the reason when no benchmark set is installed) -> report
(the HTML report, `<data root>/report.html`; `run.report`) -> export (`run.export_to`) -> push (`run.push_to`):
the last two only when configured (a scheduled deployment that refreshes a dataset on the Hub).
The writer lock is held for the whole sequence: no other writer slips in between two stages. Each stage's
summary (or the reason it was skipped) is also reported as the stage ends (`flows.progress`, kind
`stage`), so the CLI prints it then, not only when the whole sequence is over.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow
from pydantic import BaseModel, Field

from curators.config import CurateConfig
from curators.errors import ConfigError, NotEnoughLabels
from curators.filter.store import check_trainable
from curators.heuristics.config import policies_for
from curators.llm.runner import LLMStageSummary
from flows import progress
from flows.decontam import DecontamSummary, decontam_flow, sets_missing
from flows.dedup import DedupSummary, dedup_flow
from flows.ingest import IngestSummary, ingest_flow
from flows.label import label_flow
from flows.publish import ExportSummary, PushSummary, ReportSummary, export_flow, push_flow, report_flow
from flows.quality import QualitySummary, quality_flow
from flows.runners import dask_cluster, on_cluster
from flows.score import ScoreSummary, score_flow
from flows.train import train_flow
from warehouse.listings import newest_filter
from warehouse.lock import writer_lock

STAGES = ("ingest", "quality", "label", "train", "score", "dedup", "decontam", "report", "export", "push")


class PipelineSummary(BaseModel):
    """What each stage of the run did; a stage not selected or skipped has no summary."""

    stages: list[str]
    ingest: IngestSummary | None = None
    quality: QualitySummary | None = None
    label: LLMStageSummary | None = None
    train: dict[str, Any] | None = None
    score: ScoreSummary | None = None
    dedup: DedupSummary | None = None
    decontam: DecontamSummary | None = None
    report: ReportSummary | None = None
    export: ExportSummary | None = None
    push: PushSummary | None = None
    skipped: dict[str, str] = Field(default_factory=dict)  # stage -> why it did not run
    failed: str | None = None  # why the sequence stopped early


def select_stages(stages: list[str] | None = None, start: str | None = None, until: str | None = None) -> list[str]:
    """The stages to run, in pipeline order: `stages` (default: all), cut to `start`..`until`."""
    for name in [*(stages or []), start, until]:
        if name is not None and name not in STAGES:
            raise ConfigError(f"unknown stage {name!r}", hint=f"the stages of `curate run`: {', '.join(STAGES)}")
    chosen = [s for s in STAGES if not stages or s in stages]
    first = STAGES.index(start) if start else 0
    last = STAGES.index(until) if until else len(STAGES) - 1
    if first > last:
        raise ConfigError(f"--from {start} comes after --until {until}", hint=f"the order is {' -> '.join(STAGES)}")
    return [s for s in chosen if first <= STAGES.index(s) <= last]


@flow(name="pipeline")
def pipeline_flow(
    data_root: str,
    config: CurateConfig,
    stages: list[str] | None = None,
    fresh: bool = False,
    wait: float | None = None,
) -> PipelineSummary:
    """The main job over the configured sources. `config.settings` must carry no secrets (`flows.env`)."""
    root = Path(data_root).resolve()
    selected = select_stages(stages)
    done = PipelineSummary(stages=selected)
    report = progress.get("stage", str(root)) or (lambda stage, summary, skipped: None)

    def ran(stage: str, summary: Any) -> None:
        setattr(done, stage, summary)
        report(stage, summary, None)

    def skip(stage: str, why: str) -> None:
        done.skipped[stage] = why
        report(stage, None, why)

    with (
        writer_lock(root, wait=wait, command="curate run"),
        dask_cluster(config.run.runner, config.run.dask_address) as on,
    ):

        def mapped(stage_flow: Any) -> Any:
            """The stage flow with its mapped tasks on the run's Dask cluster (`run.runner: dask`)."""
            return on_cluster(stage_flow, on)

        if "ingest" in selected:
            ran("ingest", mapped(ingest_flow)(str(root), config.ingest, fresh=fresh, wait=wait))
            if done.ingest.units_failed:
                done.failed = f"{len(done.ingest.units_failed)} of {done.ingest.units} ingest units failed"
                return done
        if "quality" in selected:
            if config.run.quality:
                policies = policies_for(config.ingest)
                ran("quality", mapped(quality_flow)(str(root), config.quality, policies, wait=wait))
            else:
                skip("quality", "run.quality is off")
        if "label" in selected:
            if config.run.label_n:
                label = config.label.model_copy(
                    update={"n": config.run.label_n, "max_doc_tokens": config.run.label_max_doc_tokens}
                )
                labelled = mapped(label_flow)(str(root), label, config.llm, config.embed, config.settings, fresh, wait)
                ran("label", labelled)
            else:
                skip("label", "run.label_n is 0")
        trained_now = False
        if "train" in selected:
            if not (config.run.label_n and config.run.train_and_score):
                skip("train", "run.train_and_score is off (or run.label_n is 0)")
            else:
                try:
                    check_trainable(root, config.filter)
                except NotEnoughLabels as exc:
                    skip("train", exc.message + (f"\n  hint: {exc.hint}" if exc.hint else ""))
                else:
                    ran("train", train_flow(str(root), config.filter, config.embed, wait=wait))
                    trained_now = True
        if "score" in selected:
            if "train" in selected and not trained_now:
                skip("score", "no filter was trained in this run")
            elif newest_filter(root) is None:
                skip("score", "no filter yet (`curate train`)")
            else:
                ran("score", mapped(score_flow)(str(root), config.embed, wait=wait, prefetch=on is None))
        if "dedup" in selected:
            if config.run.dedup:
                ran("dedup", mapped(dedup_flow)(str(root), config.dedup, target="docs", wait=wait))
            else:
                skip("dedup", "run.dedup is off")
        if "decontam" in selected:
            missing = sets_missing(config.decontam)
            if not config.run.decontam:
                skip("decontam", "run.decontam is off")
            elif missing:
                skip("decontam", missing)
            else:
                ran("decontam", mapped(decontam_flow)(str(root), config.decontam, target="docs", wait=wait))
        if "report" in selected:
            if config.run.report:
                ran("report", report_flow(str(root), tokenizer=config.export.tokenizer, wait=wait))
            else:
                skip("report", "run.report is off")
        if "export" in selected:
            if config.run.export_to is None:
                skip("export", "run.export_to is not set")
            else:
                ran("export", export_flow(str(root), str(config.run.export_to), config.export, config.masked(), wait))
        if "push" in selected:
            if config.run.push_to is None or config.run.export_to is None:
                skip("push", "run.push_to (and run.export_to) are not set")
            else:
                ran("push", push_flow(str(config.run.export_to), config.run.push_to))
    return done
