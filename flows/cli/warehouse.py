"""`curate sql`, `curate status`, `curate config`: read the warehouse and the configuration. Never imports
Prefect, torch or a model: these answer at once."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from curators.config import config_template
from curators.errors import CurateError
from flows.cli.console import out
from flows.cli.options import context

commands = typer.Typer()
config_app = typer.Typer(help="Show or create the configuration (curate.yaml).", no_args_is_help=True)


def _cell(value: Any, width: int | None) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = text.replace("\n", "⏎")
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text


@commands.command()
def sql(
    ctx: typer.Context,
    query: str = typer.Argument(..., help='SQL over the warehouse views, e.g. "SELECT count(*) FROM docs".'),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (all rows)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines (all rows)."),
    max_rows: int = typer.Option(50, "--max-rows", help="Rows shown in a table (CSV/JSON print all)."),
    width: int = typer.Option(60, "--width", help="Characters shown per cell in a table (0: all)."),
) -> None:
    """Run read-only SQL (DuckDB) over the warehouse. Views: docs, rejects, runs, and <table>_all
    for every run's rows. Try `curate sql "SHOW TABLES"`."""
    from warehouse.catalog import query as run_query

    root = context(ctx).config().settings.data_root
    columns, rows = run_query(root, query)
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(dict(zip(columns, row, strict=True)), default=str, ensure_ascii=False) + "\n")
        return
    table = Table(*columns, show_lines=False)
    for row in rows[:max_rows]:
        table.add_row(*(_cell(v, width or None) for v in row))
    out.print(table)
    if len(rows) > max_rows:
        out.print(f"... {len(rows) - max_rows:,} more rows (use --max-rows, --csv or --json)")


def print_status(root: Path) -> None:
    from warehouse.status import read_status

    status = read_status(root)
    out.print(f"[bold]warehouse[/] {status.root}" + ("  [yellow](a writer is running)[/]" if status.locked else ""))
    tables = Table("view", "rows", title=None)
    for name, n in status.tables.items():
        tables.add_row(name, f"{n:,}")
    out.print(tables)
    if status.sources:
        sources = Table("source", "docs", "chars", "rejects")
        for source, docs, chars, rejects in status.sources:
            sources.add_row(source, f"{docs:,}", f"{chars:,}", f"{rejects:,}")
        out.print(sources)
    if status.rejects_by_reason:
        rejects = Table("source", "reject reason", "count")
        for source, reason, n in status.rejects_by_reason:
            rejects.add_row(source, reason, f"{n:,}")
        out.print(rejects)
    if status.labels:
        labels = Table("labeller", "status", "score", "documents")
        for model, state, score, n in status.labels:
            labels.add_row(model, state, "" if score is None else str(score), f"{n:,}")
        out.print(labels)
    if status.runs:
        runs = Table("run", "flow", "status", "started", "counts")
        for r in status.runs:
            counts = ", ".join(f"{k} {v:,}" for k, v in r["counts"].items() if isinstance(v, int))
            runs.add_row(r["run_id"], r["flow"], r["status"], f"{r['started']:%Y-%m-%d %H:%M:%S}", counts)
        out.print(runs)


@commands.command()
def status(ctx: typer.Context) -> None:
    """Tables and row counts, documents and rejects per source, rejects by reason, recent runs, and the Prefect
    API the stage commands use."""
    from flows.env import prefect_api

    root = context(ctx).config().settings.data_root
    print_status(root)
    kind, url = prefect_api(root)
    said = {
        "env": f"PREFECT_API_URL={url}",
        "serve": f"the server of this data root at {url} (`curate prefect start` or `curate serve`; no ephemeral API)",
        "ephemeral": "a temporary API that each stage command starts for itself (an ephemeral API, ~4-6 s of each "
        "command on 2 cores); `curate prefect start` runs one server they all share",
    }
    out.print(f"[bold]prefect[/] {said[kind]}", highlight=False)


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective configuration (defaults < curate.yaml < environment < options), secrets masked."""
    config = context(ctx).config()
    out.print(yaml.safe_dump(config.masked(), sort_keys=False), end="", markup=False, highlight=False)


@config_app.command("init")
def config_init(
    path: Path = typer.Argument(Path("curate.yaml"), help="Where to write the file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a curate.yaml holding the defaults, to edit."""
    if path.exists() and not force:
        raise CurateError(f"{path} exists", hint="pass --force to overwrite it")
    path.write_text(config_template(), encoding="utf-8")
    out.print(f"wrote {path}")
