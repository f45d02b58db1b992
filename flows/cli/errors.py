"""The entry point's last line of defence: an error a user can act on prints its message and hint, without a
traceback (unless --debug); an interrupted run says that its finished shards are kept."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

import click
import typer
from rich.markup import escape

from curators.errors import CurateError
from flows.cli.console import err

# Typer 0.29 vendors its own copy of click: a bad option value raises typer's ClickException (a subclass
# of typer.BadParameter's bases), not click's. Both are usage errors, shown by `show()` with exit code 2.
USAGE_ERRORS = (click.ClickException, *(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"))
EXITS = (click.exceptions.Exit, typer.Exit)
ABORTS = (click.Abort, typer.Abort, KeyboardInterrupt)


def run_main(app: Callable[..., object], argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv or os.environ.get("CURATE_DEBUG") == "1"
    try:
        app(args=argv, prog_name="curate", standalone_mode=False)
        return 0
    except EXITS as exc:
        return exc.exit_code
    except USAGE_ERRORS as exc:
        exc.show()
        return exc.exit_code
    except ABORTS:
        err.print("[yellow]interrupted[/]: finished shards are kept; rerun the same command to continue")
        return 130
    except CurateError as exc:
        if debug:
            raise
        err.print(f"[red]error:[/] {escape(exc.message)}", markup=True, highlight=False)
        if exc.hint:
            err.print(f"  hint: {exc.hint}", markup=False, highlight=False)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, not a traceback
        if debug:
            raise
        err.print(f"[red]error:[/] {type(exc).__name__}: {escape(str(exc))}", markup=True, highlight=False)
        err.print("  rerun with --debug for the full traceback", markup=False)
        return 1
