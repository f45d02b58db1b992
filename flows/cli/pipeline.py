"""`curate run`: the main job, one Prefect flow (`flows.pipeline`) whose stages can be selected."""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape

from curators.errors import CurateError
from flows.cli.console import err, out
from flows.cli.options import DaskAddress, Fresh, Stage, Wait, context, for_flows
from flows.runners import Runner

commands = typer.Typer()


@commands.command()
def run(
    ctx: typer.Context,
    stages: list[Stage] | None = typer.Option(
        None, "--stages", help="Run only these stages (repeatable), in pipeline order. Default: all."
    ),
    start: Stage | None = typer.Option(None, "--from", help="Start at this stage."),
    until: Stage | None = typer.Option(None, "--until", help="Stop after this stage."),
    runner: Runner | None = typer.Option(
        None,
        "--runner",
        help="local (threads) or dask: ingest units, scoring, MinHash signatures and decontamination shards as "
        "Dask tasks, on one LocalCluster for the run or --dask-address (default: run.runner).",
    ),
    dask_address: DaskAddress = None,
    fresh: Fresh = False,
    wait: Wait = None,
) -> None:
    """Run the main job on the configured sources (default: the built-in `python-stdlib` corpus):
    ingest, check every document with the quality rules and language ID (section `quality`), label a small
    diverse sample of those that pass with the LLM (run.label_n documents; the embedded endpoint
    unless one is configured), train the filter when the labels allow it, score every document,
    deduplicate (exact + MinHash near-duplicates; `curated` leaves them out), find benchmark items in the
    documents (`curated` leaves those out too), and print the status summary. Rerunning resumes and skips
    finished work, and ends with the HTML report (`curate report`). Stages: ingest, quality, label, train, score, dedup,
    decontam, report, export and push (the last two when `run.export_to` / `run.push_to` are set)."""
    from curators.ingest.plan import plan_units
    from flows.cli.ingest import raise_if_units_failed
    from flows.cli.progress import StageBars
    from flows.cli.warehouse import print_status

    c = context(ctx)
    run_overrides = {k: v for k, v in {"runner": runner and runner.value, "dask_address": dask_address}.items() if v}
    config = c.config({"run": run_overrides} if run_overrides else None)
    root = config.settings.data_root.resolve()
    config = for_flows(config, c.verbose, wait, stages=["ingest", "quality", "dedup", "decontam"])
    from flows.pipeline import pipeline_flow, select_stages

    selected = select_stages([s.value for s in stages or []], start and start.value, until and until.value)
    bars = StageBars(root)
    if "ingest" in selected:
        # A wrong path or an unknown format fails here, before the flow (and Prefect's API) starts.
        bars.ingest(plan_units(config.ingest).n_bytes)
    if "label" in selected:
        bars.llm("label", config.run.label_n)
    if "dedup" in selected:
        bars.dedup(None)
    if "decontam" in selected:
        bars.decontam(None)
    bars.on_stage(print_stage)
    with bars.shown():
        done = pipeline_flow(str(root), config, stages=selected, fresh=fresh, wait=wait)
    if done.ingest is not None:
        raise_if_units_failed(done.ingest)  # the pipeline stopped after it: say which units, and what to do
    if done.failed:
        raise CurateError(done.failed, hint="rerun `curate run` to retry only what is missing")
    print_status(root)


def print_stage(stage: str, summary: Any, skipped: str | None) -> None:
    """Print a stage's summary, or why it was skipped, as the stage ends."""
    from flows.cli.decontam import print_decontam_summary
    from flows.cli.dedup import print_dedup_summary
    from flows.cli.filter import print_filter_card, print_label_summary, print_score_summary
    from flows.cli.ingest import print_ingest_summary
    from flows.cli.quality import print_quality_summary

    if skipped is not None:
        err.print(f"[yellow]{'training' if stage == 'train' else stage} skipped:[/] {escape(skipped)}")
        return
    printers = {
        "ingest": print_ingest_summary,
        "quality": print_quality_summary,
        "label": print_label_summary,
        "train": print_filter_card,
        "score": print_score_summary,
        "dedup": print_dedup_summary,
        "decontam": print_decontam_summary,
        "report": lambda done: out.print(f"[bold]report[/] {done.path}: open it in a browser"),
        "export": lambda done: out.print(
            f"[bold]export[/] {done.out}: " + ", ".join(f"{c.name} {c.rows:,}" for c in done.configs)
        ),
        "push": lambda done: out.print(f"[bold]push[/] {done.repo_url}: {done.commit_url or 'nothing changed'}"),
    }
    printers[stage](summary)
