"""`curate serve`: run the scheduled deployments of `serve.deployments` until stopped; `--status` lists them."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from flows.cli.console import out
from flows.cli.options import context

commands = typer.Typer()


@commands.command()
def serve(
    ctx: typer.Context,
    show_status: bool = typer.Option(
        False, "--status", help="List the deployments of this data root: paused or not, next runs, last runs."
    ),
    ui: bool | None = typer.Option(None, "--ui/--no-ui", help="Serve Prefect's UI too (serve.ui)."),
    port: int | None = typer.Option(None, "--port", help="Port of the Prefect server it starts (serve.port)."),
) -> None:
    """Run the scheduled deployments of `serve.deployments` (default: curate-nightly, the pipeline at 02:00 UTC,
    and synth-weekly, the synthetic data on Sundays at 03:00) until Ctrl-C. Uses the Prefect server at
    PREFECT_API_URL, or one started earlier for this data root, or starts one on loopback (SQLite under
    <data root>/.prefect; stopped again on exit). Each scheduled run reads curate.yaml when it starts, runs
    alone, and waits for a busy warehouse (serve.lock_wait_s) before ending Cancelled. Stopping pauses the
    schedules; a start after a crash runs at most one catch-up run per deployment."""
    c = context(ctx)
    overrides = {k: v for k, v in {"ui": ui, "port": port}.items() if v is not None}
    config = c.config({"serve": overrides} if overrides else None)
    from flows.env import configure_environment

    # A busy warehouse is no reason not to serve; the server is found (or started) by serve itself.
    configure_environment(config.settings.data_root, verbose=c.verbose, use_running_server=False)
    from flows import serve as serving

    if show_status:
        shown = serving.status(config)
        if not shown:
            out.print("no deployment registered for this data root: start them with `curate serve`")
        for d in shown:
            state = "[yellow]paused[/]" if d["paused"] else "[green]active[/]"
            out.print(f"[bold]{escape(d['name'])}[/] {state} {escape(', '.join(d['schedules']))}")
            out.print(f"  next: {', '.join(d['next']) or '-'}")
            for r in d["last"]:
                out.print(f"  last: {escape(r['name'])} {r['state']} {r['start'] or ''}")
        return
    path = c.config_path or (Path("curate.yaml") if Path("curate.yaml").is_file() else None)
    serving.serve(config, path, say=lambda line: out.print(escape(line)))
