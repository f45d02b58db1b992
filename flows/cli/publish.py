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
    sft_synthetic: bool = typer.Option(
        False, "--sft-synthetic", help="`sft` also holds the usable textbooks and exercises as conversations."
    ),
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
    if sft_synthetic:
        section["sft_synthetic"] = True
    if shard_mb is not None:
        section["shard_bytes"] = shard_mb << 20
    if tokenizer is not None:
        section["tokenizer"] = None if tokenizer.lower() == "none" else tokenizer
    c = context(ctx)
    run_export(c.config({"export": section} if section else None), c.verbose, folder, wait)


def run_export(config: CurateConfig, verbose: bool, folder: Path, wait: float | None) -> Any:
    masked = config.masked()
    root = config.settings.data_root.resolve()
    config.export.chosen([])  # an unknown product name is said before Prefect starts
    config = for_flows(config, verbose, wait)
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


@commands.command()
def push(
    ctx: typer.Context,
    repo_id: str = typer.Argument(..., help="The dataset repository, e.g. my-org/my-dataset (created if missing)."),
    folder: Path = typer.Option(Path("export"), "--folder", help="The export to push (see `curate export`)."),
    private: bool = typer.Option(False, "--private", help="Create the repository private."),
    revision: str | None = typer.Option(None, "--revision", help="Commit to this branch (created if missing)."),
) -> None:
    """Push an export (`curate export FOLDER`) to the Hugging Face Hub as a dataset repository: its card and
    Parquet files in one commit; a rerun uploads only what changed. The token comes from HF_TOKEN (or
    `settings.hf_token`) and is never printed or stored. Then anyone can `datasets.load_dataset(REPO_ID,
    "pretrain")`."""
    import os

    c = context(ctx)
    config = c.config()
    if config.settings.hf_token is not None:
        os.environ.setdefault("HF_TOKEN", config.settings.hf_token.get_secret_value())
    os.environ.setdefault(
        "HF_HUB_OFFLINE", "0"
    )  # the flows' offline default, lifted for the one command that goes online
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    from curators.publish.hub import check_export

    check_export(folder.resolve())  # a missing export is said before Prefect starts
    config = for_flows(config, c.verbose, None)
    from flows.publish import push_flow

    done = push_flow(str(folder.resolve()), repo_id, private, revision)
    what = f"commit {done.commit_url}" if done.commit_url else "nothing changed since the last push"
    out.print(f"[bold]pushed[/] {done.files} files of {folder} to {done.repo_url}: {what}")
    if done.attempts > 1:
        out.print(f"  after {done.attempts} attempts (the Hub answered 429/5xx; retried with backoff)")
    out.print(f'  load it: `datasets.load_dataset("{repo_id}", "pretrain")`')


@commands.command()
def report(
    ctx: typer.Context,
    out_path: Path | None = typer.Option(None, "--out", help="Where to write it (default: <data root>/report.html)."),
    tokens: bool = typer.Option(
        True,
        "--tokens/--no-tokens",
        help="Count the tokens of documents not counted yet (export.tokenizer), so the funnel is in tokens too.",
    ),
    wait: Wait = None,
) -> None:
    """Write the HTML report of the warehouse: one self-contained file that opens offline, with the funnel
    (documents and tokens), kept and dropped per source and reason, labels per labeller, filter rounds and
    confusion matrix, the score histogram and threshold, dedup cluster sizes and S-curve, decontamination per
    benchmark, synthetic data by status and its diversity per axis, and a timeline of runs. Prefect is not
    started; counting tokens takes the writer lock (--no-tokens: reads only)."""
    from curators.publish.report import write_report

    c = context(ctx)
    config = c.config()
    root = config.settings.data_root.resolve()
    tokenizer = config.export.tokenizer if tokens else None
    if tokenizer:
        from curators.publish.tokens import count_document_tokens, load_tokenizer
        from warehouse.lock import writer_lock

        with writer_lock(root, wait=wait, command="curate report"):
            counted = count_document_tokens(root, tokenizer, load_tokenizer(tokenizer))
        if counted:
            out.print(f"counted the tokens of {counted:,} documents ({tokenizer})")
    path, sections = write_report(root, out_path or root / "report.html", tokenizer=tokenizer)
    out.print(f"[bold]report[/] {path} ({sections} sections): open it in a browser")
