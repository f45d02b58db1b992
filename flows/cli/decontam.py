"""`curate decontam`: find benchmark items (n-grams) in the documents or the generations."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from curators.config import CurateConfig
from flows.cli.console import out
from flows.cli.options import DaskAddress, DecontamMethod, RunnerOption, TextTable, Wait, context, for_flows, given
from flows.cli.uptodate import Rerun, stage_once
from flows.runners import Runner

commands = typer.Typer()


@commands.command()
def decontam(
    ctx: typer.Context,
    target: TextTable = typer.Option(
        TextTable.docs, "--target", help="What to check: docs, generations, instructions or responses."
    ),
    benchmark: list[str] = typer.Option(
        [], "--benchmark", "-b", help="A built-in set to check against (repeat; default: every installed one)."
    ),
    jsonl: list[Path] = typer.Option(
        [], "--jsonl", help="Your own benchmark file, one JSON item a line (repeat); the set is named after it."
    ),
    ngram: int | None = typer.Option(None, "--ngram", help="Words per n-gram (13; 10 with --method ngram+difflib)."),
    method: DecontamMethod | None = typer.Option(
        None, "--method", help="ngram (any shared n-gram) or ngram+difflib (Cosmopedia's: then difflib ratio > 0.5)."
    ),
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
    wait: Wait = None,
    rerun: Rerun = False,
) -> None:
    """Find benchmark items in every document (or generation): a text that shares a 13-word n-gram with an
    item of HumanEval, GSM8K, MMLU, ... (20 built-in sets, listed in the README) gets a
    `contamination` row naming the benchmark, the item and the shared words. Nothing is deleted: `curated`
    leaves contaminated documents out, `synthetic` marks such generations not usable. The removal table
    per benchmark is printed and stays queryable."""
    section: dict[str, Any] = given(ngram=ngram, method=method)
    if benchmark:
        section["benchmarks"] = benchmark
    if jsonl:
        section["extra_jsonl"] = [str(p) for p in jsonl]
    c = context(ctx)
    config = c.config({"decontam": section} if section else None)
    run_decontam(config, c.verbose, target.value, runner, dask_address, wait, rerun)


def run_decontam(
    config: CurateConfig,
    verbose: bool,
    target: str,
    runner: Runner,
    dask_address: str | None,
    wait: float | None,
    rerun: bool = False,
) -> Any:
    root = config.settings.data_root.resolve()
    own_sets = [str(Path(p).resolve()) for p in config.decontam.extra_jsonl]  # inputs outside the data root
    with stage_once(root, "decontam", [config.decontam, target], wait, rerun, extra_files=own_sets) as once:
        if once.summary is not None:
            print_decontam_summary(once.summary)
            return once.summary
        config = for_flows(config, verbose, wait, stages=["decontam"])
        from flows.cli.progress import StageBars
        from flows.decontam import decontam_flow, decontam_inputs
        from flows.runners import task_runner

        shards = decontam_inputs(root, target)  # said before Prefect starts: nothing to check
        bars = StageBars(root)
        bars.decontam(len(shards))
        with bars.shown():
            flow = decontam_flow.with_options(task_runner=task_runner(runner, dask_address))
            summary = flow(str(root), config.decontam, target=target, wait=wait)
        once.finished(summary)
    print_decontam_summary(summary)
    return summary


def print_decontam_summary(summary: Any) -> None:
    out.print(
        f"[bold]decontam[/] {summary.target}: {summary.flagged:,} of {summary.checked:,} hold a benchmark item "
        f"({summary.shards_computed} of {summary.shards} shards checked now, the rest done before) "
        f"in {summary.seconds:.1f}s"
    )
    table = Table("benchmark", "items", f"{summary.target} flagged", "items matched", title="removals per benchmark")
    for row in summary.removals:
        table.add_row(
            row["benchmark"], f"{row.get('benchmark_items', 0):,}", f"{row['flagged']:,}", f"{row['items_matched']:,}"
        )
    out.print(table)
    out.print(
        '  see `curate sql "SELECT id, benchmark, item_id, matched FROM contamination"`'
        + ("; `curated` leaves them out" if summary.target == "docs" else "; `synthetic` marks them not usable")
    )
