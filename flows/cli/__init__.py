"""`curate`: the command line, one module per stage. A command parses options, calls one flow and prints
its summary; locks, environment and sequencing belong to the flows. Commands import their flow inside
the command, so `sql`, `status`, `config`, `prompts` and every `--help` never import Prefect, torch or
sentence-transformers, and answer at once.
"""

from __future__ import annotations

from flows.cli.app import app
from flows.cli.errors import run_main

__all__ = ["app", "main"]


def main(argv: list[str] | None = None) -> int:
    return run_main(app, argv)
