"""`curate export`: the warehouse's products as a folder that `datasets.load_dataset` reads, with its card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from curators.config import CurateConfig
from curators.publish.config import PRODUCTS
from flows.cli.console import out
from flows.cli.options import Wait, context, for_flows

commands = typer.Typer()


@commands.command()
def export(
    ctx: typer.Context,
    folder: Path = typer.Argument(..., help="Where to write the export (replaced whole if it is an earlier one)."),
    config_names: list[str] = typer.Option(
        [], "--config", help=f"Only these products (repeat): {', '.join(PRODUCTS)}. Default: every one with rows."
    ),
    rejected: bool = typer.Option(False, "--rejected", help="Also `rejected`: every dropped row with its reason."),
    shard_mb: int | None = typer.Option(None, "--shard-mb", help="Largest Parquet file, in MB (default 256)."),
    tokenizer: str | None = typer.Option(
        None, "--tokenizer", help="Tokenizer of the token counts: smollm2 (default), a model, a folder, or none."
    ),
    wait: Wait = None,
) -> None:
    """Write FOLDER: one `datasets` config per product (pretrain: the documents that passed every stage
    that ran; textbooks, exercises: the usable generations; rejected on request), Parquet files in a stable
    order (two exports of one warehouse are the same bytes), and README.md, the dataset card with the Hub's
    metadata and the whole story: funnel, filter, dedup, decontamination, pipeline as run. Then
    `datasets.load_dataset("FOLDER", "pretrain")`."""
    section: dict[str, Any] = {}
    if config_names:
        section["configs"] = config_names
    if rejected:
        section["rejected"] = True
    if shard_mb is not None:
        section["shard_bytes"] = shard_mb << 20
    if tokenizer is not None:
        section["tokenizer"] = None if tokenizer.lower() == "none" else tokenizer
    c = context(ctx)
    run_export(c.config({"export": section} if section else None), c.verbose, folder, wait)


def run_export(config: CurateConfig, verbose: bool, folder: Path, wait: float | None) -> Any:
    masked = config.masked()
    root = config.settings.data_root.resolve()
    config = for_flows(config, verbose, wait)
    config.export.chosen([])  # an unknown product name is said before Prefect starts
    from flows.publish import export_flow

    summary = export_flow(str(root), str(folder), config.export, masked, wait=wait)
    table = Table("config", "rows", "tokens", "files", "MB", title=f"export {summary.out}")
    for c in summary.configs:
        tokens = f"{c.tokens:,}" if c.tokens is not None else "-"
        table.add_row(c.name, f"{c.rows:,}", tokens, str(len(c.files)), f"{c.download_size / 1e6:.1f}")
    out.print(table)
    for name, why in summary.skipped.items():
        out.print(f"  {name}: not exported ({why})")
    out.print(
        f"  in {summary.seconds:.1f}s; the card: {summary.out}/README.md; load with "
        f'`datasets.load_dataset("{summary.out}", "{summary.configs[0].name}")`'
    )
    return summary
