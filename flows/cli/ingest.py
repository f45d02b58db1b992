"""`curate ingest`: read sources into `docs`; bad input goes to `rejects` with a reason."""

from __future__ import annotations

import time
from typing import Any

import typer

from curators.config import CurateConfig, SourceSpec
from curators.errors import CurateError
from flows.cli.console import out
from flows.cli.options import DaskAddress, Fresh, RunnerOption, Wait, context, for_flows, given
from flows.runners import Runner

commands = typer.Typer()


@commands.command()
def ingest(
    ctx: typer.Context,
    sources: list[str] | None = typer.Argument(
        None,
        help="Files or folders to read, or 'python-stdlib'. Default: the sources in curate.yaml.",
        show_default=False,
    ),
    format: str = typer.Option(
        "auto",
        "--format",
        "-f",
        help="Reader: auto (by extension/content), jsonl (.jsonl/.json/.gz/.zst), parquet, csv (.csv/.tsv), "
        "text (folder of .txt/.md/.rst), code (folder of source files), hf (datasets.save_to_disk folder).",
    ),
    name: str | None = typer.Option(None, "--name", help="Value of the `source` column (default: the path)."),
    text_field: str = typer.Option("text", "--text-field", help="Column/key holding the text."),
    id_field: str | None = typer.Option(None, "--id-field", help="Column/key used as the document locator."),
    meta_field: list[str] | None = typer.Option(
        None, "--meta-field", help="Column kept as metadata (repeatable; default: all other columns)."
    ),
    ext: list[str] | None = typer.Option(None, "--ext", help="File extension read from folders (repeatable)."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Encoding of text files; bad bytes are rejected."),
    shard_rows: int | None = typer.Option(None, "--shard-rows", help="Rows per output shard."),
    max_doc_bytes: int | None = typer.Option(None, "--max-doc-bytes", help="Reject documents larger than this."),
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
    fresh: Fresh = False,
    wait: Wait = None,
) -> None:
    """Read sources into the `docs` table; bad input goes to `rejects` with a reason.

    Every input record ends in exactly one of the two (seen = ingested + rejected). A killed run,
    rerun with the same arguments, continues from its last complete shard.
    """
    c = context(ctx)
    overrides: dict[str, Any] = {}
    if sources:
        overrides["sources"] = [
            SourceSpec(
                path=s,
                format=format,
                name=name if len(sources) == 1 else None,
                text_field=text_field,
                id_field=id_field,
                meta_fields=meta_field or None,
                extensions=ext or None,
                encoding=encoding,
            ).model_dump()
            for s in sources
        ]
    overrides.update(given(shard_rows=shard_rows, max_doc_bytes=max_doc_bytes))
    config = c.config({"ingest": overrides} if overrides else None)
    run_ingest(config, c.verbose, fresh, wait, runner, dask_address)


def run_ingest(
    config: CurateConfig,
    verbose: bool,
    fresh: bool,
    wait: float | None,
    runner: Runner = Runner.local,
    dask_address: str | None = None,
) -> None:
    from curators.ingest.plan import plan_units
    from flows.cli.progress import StageBars

    # Plan first: a wrong path or an unknown format fails here, before Prefect starts.
    plan = plan_units(config.ingest)
    config = for_flows(config, verbose, wait, stages=["ingest"])
    from flows.ingest import ingest_flow

    root = config.settings.data_root.resolve()
    bars = StageBars(root)
    bars.ingest(plan.n_bytes)
    with bars.shown():
        started = time.monotonic()
        flow = ingest_flow
        if runner is Runner.dask:  # each input unit a Dask task (a process per core, or --dask-address)
            from flows.runners import task_runner

            flow = ingest_flow.with_options(task_runner=task_runner(runner, dask_address))
        summary = flow(str(root), config.ingest, fresh=fresh, wait=wait)
    print_ingest_summary(summary, time.monotonic() - started)
    raise_if_units_failed(summary)


def print_ingest_summary(summary: Any, elapsed: float | None = None) -> None:
    balanced = summary.seen == summary.ingested + summary.rejected
    took = "" if elapsed is None else f", {elapsed:.1f}s"
    out.print(
        f"[bold]ingest[/] run {summary.run_id}: seen {summary.seen:,} = ingested {summary.ingested:,} "
        f"+ rejected {summary.rejected:,}"
        + ("" if balanced else "  [red](MISMATCH)[/]")
        + f"  ({summary.units} units, {summary.units_skipped} already done{took})"
    )
    if summary.rejects_by_reason:
        out.print(
            "  rejected: "
            + ", ".join(f"{k} {v:,}" for k, v in summary.rejects_by_reason.items())
            + '   (see `curate sql "SELECT * FROM rejects"`)'
        )
    if summary.files_not_read:
        shown = sorted(summary.files_not_read.items(), key=lambda kv: -kv[1])[:8]
        out.print(
            "  files not read (rejects with reason not_read; --format/--ext include other extensions): "
            + ", ".join(f"{ext} {n}" for ext, n in shown)
        )


def raise_if_units_failed(summary: Any) -> None:
    if summary.units_failed:
        raise CurateError(
            f"{len(summary.units_failed)} of {summary.units} units failed; their finished shards are kept",
            hint="rerun the same command to retry only what is missing:\n    "
            + "\n    ".join(summary.units_failed[:5]),
        )
