"""`curate prefect`: a Prefect server for the data root, left running, so that stage commands skip the
ephemeral API Prefect otherwise starts for each of them (~5-10 s on 2 cores)."""

from __future__ import annotations

import typer

from curators.errors import CurateError
from flows.cli.console import err, out
from flows.cli.options import context

app = typer.Typer(
    help="A Prefect server for the data root, so that stage commands start at once.", no_args_is_help=True
)


@app.command("start")
def prefect_start(
    ctx: typer.Context,
    port: int | None = typer.Option(None, "--port", help="Port on 127.0.0.1 (serve.port)."),
    ui: bool | None = typer.Option(None, "--ui/--no-ui", help="Serve Prefect's UI too (serve.ui)."),
) -> None:
    """Start a Prefect server (what `prefect server start` runs) on loopback in the background (SQLite and log
    under <data root>/.prefect) and record it: every stage command of this data root, and `curate serve`, then use
    it. A PREFECT_API_URL you set wins over it. `curate prefect stop` stops it."""
    overrides = {k: v for k, v in {"port": port, "ui": ui}.items() if v is not None}
    config = context(ctx).config({"serve": overrides} if overrides else None)
    from flows.prefect_server import recorded_server, start_server

    root = config.settings.data_root.resolve()
    running = recorded_server(root)
    if running is not None:
        raise CurateError(
            f"a Prefect server for {root} already runs at {running.url} (pid {running.pid})",
            hint="`curate prefect stop` stops it",
        )
    err.print(f"starting a Prefect server on 127.0.0.1:{config.serve.port} ...")
    server = start_server(root, config.serve)
    out.print(f"Prefect server {server.url} (pid {server.pid}): stage commands of {root} use it")
    if config.serve.ui:
        out.print(f"  UI: {server.url.removesuffix('/api')}")
    out.print("  `curate prefect stop` stops it")


@app.command("stop")
def prefect_stop(ctx: typer.Context) -> None:
    """Stop the Prefect server recorded for this data root."""
    from flows.prefect_server import stop_recorded

    root = context(ctx).config().settings.data_root.resolve()
    stopped = stop_recorded(root)
    if stopped is None:
        out.print(f"no Prefect server runs for {root}")
    else:
        out.print(f"stopped the Prefect server at {stopped.url} (pid {stopped.pid})")
