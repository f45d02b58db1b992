"""`curate dedup`: exact and near-duplicates (MinHash LSH, verified), every drop traceable."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.table import Table

from curators.config import CurateConfig
from flows.cli.console import out
from flows.cli.options import (
    DaskAddress,
    RunnerOption,
    Semantic,
    TextTable,
    Verify,
    Wait,
    context,
    for_flows,
    given,
)
from flows.cli.uptodate import Rerun, stage_once
from flows.runners import Runner

commands = typer.Typer()


@commands.command()
def dedup(
    ctx: typer.Context,
    target: TextTable = typer.Option(
        TextTable.docs, "--target", help="What to deduplicate: docs, generations, instructions or responses."
    ),
    against: list[TextTable] = typer.Option(
        [], "--against", help="Also compare with this table (never dropped), e.g. --target generations --against docs."
    ),
    threshold: float | None = typer.Option(None, "--threshold", help="Jaccard at or above which two are duplicates."),
    ngram: int | None = typer.Option(None, "--ngram", help="Shingle size (words, or characters with --char)."),
    char: bool = typer.Option(False, "--char", help="Character shingles instead of word shingles."),
    bands: int | None = typer.Option(None, "--bands", help="LSH bands (with --rows; default: from the threshold)."),
    rows: int | None = typer.Option(None, "--rows", help="Rows per band."),
    num_perm: int | None = typer.Option(None, "--num-perm", help="Permutations when bands/rows are derived."),
    verify: Verify | None = typer.Option(None, "--verify", help="jaccard (exact, default) or minhash (estimate)."),
    keep: str | None = typer.Option(
        None, "--keep", help="Survivor policy, comma-separated: score,length,earliest (the default order)."
    ),
    semantic: Semantic | None = typer.Option(None, "--semantic", help="Cosine near-duplicates: report, or remove."),
    no_exact: bool = typer.Option(False, "--no-exact", help="Skip exact duplicates."),
    no_near: bool = typer.Option(False, "--no-near", help="Skip MinHash near-duplicates."),
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
    wait: Wait = None,
    rerun: Rerun = False,
) -> None:
    """Find exact and near-duplicates (MinHash LSH, verified by Jaccard) and write `dups`: every dropped
    document with the survivor it duplicates (`dup_of`), the member it matched and the similarity.
    Nothing is deleted; `curated` leaves duplicates out. Signatures are kept and reused: a rerun after new
    data computes signatures only for the new shards and verifies only new candidate pairs."""
    minhash = given(threshold=threshold, ngram=ngram, bands=bands, rows=rows, num_perm=num_perm)
    if char:
        minhash["shingle"] = "char"
    section: dict[str, Any] = given(verify=verify, semantic=semantic)
    if minhash:
        section["minhash"] = minhash
    if keep is not None:
        section["keep"] = [k.strip() for k in keep.split(",") if k.strip()]
    if no_exact:
        section["exact"] = False
    if no_near:
        section["near"] = False
    c = context(ctx)
    config = c.config({"dedup": section} if section else None)
    run_dedup(config, c.verbose, target.value, [a.value for a in against], runner, dask_address, wait, rerun)


def run_dedup(
    config: CurateConfig,
    verbose: bool,
    target: str,
    against: list[str],
    runner: Runner,
    dask_address: str | None,
    wait: float | None,
    rerun: bool = False,
) -> Any:
    root = config.settings.data_root.resolve()
    with stage_once(root, "dedup", [config.dedup, target, sorted(against)], wait, rerun) as once:
        if once.summary is not None:
            print_dedup_summary(once.summary)
            return once.summary
        config = for_flows(config, verbose, wait, stages=["dedup"])
        from flows.cli.progress import StageBars
        from flows.dedup import dedup_flow, input_shards
        from flows.runners import task_runner

        shards = input_shards(root, target, against)  # said before Prefect starts: nothing to deduplicate
        bars = StageBars(root)
        bars.dedup(len(shards))
        started = time.monotonic()
        with bars.shown():
            flow = dedup_flow.with_options(task_runner=task_runner(runner, dask_address))
            summary = flow(str(root), config.dedup, target=target, against=against, wait=wait)
        once.finished(summary)
    print_dedup_summary(summary, time.monotonic() - started)
    return summary


def print_dedup_summary(summary: Any, elapsed: float | None = None) -> None:
    rate = summary.dups / max(1, summary.documents)
    took = "" if elapsed is None else f" in {elapsed:.1f}s"
    out.print(
        f"[bold]dedup[/] {summary.target}: {summary.documents:,} documents, {summary.dups:,} duplicates ({rate:.2%}) "
        f"in {summary.clusters:,} clusters ({summary.kept:,} kept){took}"
    )
    methods = ", ".join(f"{m} {n:,}" for m, n in sorted(summary.by_method.items())) or "none"
    out.print(f"  by method: {methods}")
    out.print(
        f"  signatures: {summary.shards_computed} of {summary.shards} shards computed now (the rest reused); "
        f"candidate pairs {summary.candidates:,}: {summary.verified:,} verified now, {summary.reused:,} reused"
    )
    if summary.semantic_pairs:
        out.print(f"  semantic pairs (cosine): {summary.semantic_pairs:,}")
    curve = summary.curve
    table = Table("Jaccard", *curve["p_candidate"].keys(), title=f"LSH {curve['bands']} bands x {curve['rows']} rows")
    table.add_row("P(candidate)", *(f"{p:.3f}" for p in curve["p_candidate"].values()))
    out.print(table)
    out.print('  see `curate sql "SELECT * FROM dups"`; `curated` leaves them out')
