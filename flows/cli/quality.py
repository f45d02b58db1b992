"""`curate quality`: the heuristic rules (Gopher, C4, FineWeb, code) and language ID on every document."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from flows.cli.console import out
from flows.cli.options import DaskAddress, RunnerOption, Wait, context, for_flows
from flows.cli.uptodate import Rerun, stage_once
from flows.runners import Runner

commands = typer.Typer()


@commands.command()
def quality(
    ctx: typer.Context,
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
    wait: Wait = None,
    rerun: Rerun = False,
) -> None:
    """Check every document with cheap quality rules and identify its language, shard by shard (resumable):
    writes `quality` (each rule's value, verdict and reason; lang, lang_score). Prose sources get Gopher
    quality and repetition, C4 and FineWeb rules (datatrove's default thresholds); code sources get line
    length, alphanumeric share, generated and data-file rules (`ingest.sources[].profile`). Nothing is
    deleted: `curated` leaves out a document that fails a rule or is not in a kept language
    (`ingest.languages`), and `dropped` names the rule. Prints the pass rate of every rule."""
    from curators.heuristics.config import policies_for

    config = context(ctx).config()
    root = config.settings.data_root.resolve()
    policies = policies_for(config.ingest)
    with stage_once(root, "quality", [config.quality, policies], wait, rerun) as once:
        if once.summary is None:
            config = for_flows(config, context(ctx).verbose, wait, stages=["quality"])
            from flows.quality import quality_flow
            from flows.runners import task_runner

            started = time.monotonic()
            flow = quality_flow.with_options(task_runner=task_runner(runner, dask_address))
            summary = flow(str(root), config.quality, policies, wait=wait)
            once.finished(summary)
    if once.summary is not None:
        print_quality_summary(once.summary)
    else:
        print_quality_summary(summary, time.monotonic() - started)
    print_rule_table(root)


def print_quality_summary(summary: Any, elapsed: float | None = None) -> None:
    took = "" if elapsed is None else f" in {elapsed:.1f}s"
    docs = max(1, summary.docs)
    out.print(
        f"[bold]quality[/] {summary.docs:,} documents in {summary.shards} shards ({summary.computed} computed now)"
        f"{took}: rules passed {summary.passed:,} ({summary.passed / docs:.1%}), language kept "
        f"{summary.lang_ok:,} ({summary.lang_ok / docs:.1%}), both {summary.kept:,} ({summary.kept / docs:.1%})"
    )
    out.print(
        "  see `curate quality` for the rules' pass rates; `curate sql \"SELECT * FROM dropped WHERE reason IN "
        "('heuristics', 'language')\"` for each drop"
    )


def print_rule_table(root: Path) -> None:
    """Every rule that was applied: documents, failed, pass rate, and one failing document's reason."""
    from curators.heuristics.store import quality_totals, rule_counts

    counts = [r for r in rule_counts(root) if r.applied]
    table = Table("rule", "applied", "failed", "pass rate", "e.g.", title="quality rules (current documents)")
    for r in counts:
        rate = r.pass_rate
        table.add_row(
            r.rule,
            f"{r.applied:,}",
            f"{r.failed:,}",
            "-" if rate is None else f"{rate:.1%}",
            escape(r.example or ""),
        )
    out.print(table)
    totals = quality_totals(root)
    if totals.languages:
        shown = ", ".join(f"{lang} {n:,}" for lang, n in totals.languages[:12])
        more = f" (+{len(totals.languages) - 12} more)" if len(totals.languages) > 12 else ""
        out.print(f"  languages of prose documents: {shown}{more}")
