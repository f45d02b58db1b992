"""The typer app: global options, and the commands of every stage module gathered under one `curate`."""

from __future__ import annotations

from pathlib import Path

import typer

from flows.cli import (
    decontam,
    dedup,
    filter,
    ingest,
    llm,
    pipeline,
    prefect,
    prompts,
    publish,
    quality,
    serve,
    synth,
    warehouse,
)
from flows.cli.options import Context

HELP = """Curate training data for small language models: ingest corpora, check them with cheap quality rules
and language ID, label a sample with an LLM,
train an educational-value filter, score, deduplicate, decontaminate, generate synthetic data,
and get it out: a `datasets`-loadable export with its card, a push to the Hub, an HTML report.

Data lives under the data root (--data-root, CURATE_DATA, or `settings.data_root` in curate.yaml;
default ./curate-data): Parquet shards plus a DuckDB catalog you can query with `curate sql`.
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


@app.callback()
def _main(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Config file (default: ./curate.yaml when it exists).",
        envvar="CURATE_CONFIG",
    ),
    data_root: Path | None = typer.Option(
        None, "--data-root", "-d", help="Warehouse folder (overrides CURATE_DATA and the config)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's own logs."),
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an error."),
) -> None:
    ctx.obj = Context(config_path=config, data_root=data_root, verbose=verbose, debug=debug)


# Top-level commands, in the order `--help` lists them, then the command groups.
for module in (pipeline, ingest, quality, filter, dedup, decontam, publish, serve, warehouse):
    app.registered_commands.extend(module.commands.registered_commands)
app.add_typer(warehouse.config_app, name="config")
app.add_typer(synth.app, name="synth")
app.add_typer(llm.app, name="llm")
app.add_typer(prompts.app, name="prompts")
app.add_typer(prefect.app, name="prefect")
