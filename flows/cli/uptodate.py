"""A stage command with nothing to do answers at once: when nothing in the data root changed since the same
stage, with the same settings, last finished, its summary is printed again without starting Prefect (whose
import and flow run alone take ~3-5 s on 2 cores). `--rerun` runs the flow anyway.

The whole check-run-record sequence holds the writer lock (the flow takes it again, re-entrantly), so no other
writer can slip in between the end of the run and the record of the state it left.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Annotated, Any

import typer

from curators import __version__
from flows.cli.console import out
from warehouse.lock import writer_lock
from warehouse.snapshot import recall, remember, stage_key

Rerun = Annotated[
    bool,
    typer.Option(
        "--rerun", help="Run the flow even when nothing changed since this stage last finished with these settings."
    ),
]


@dataclass
class Once:
    root: Path
    key: str
    extra_files: list[str] | None
    summary: Any = None  # the last run's summary (attributes), when the stage is up to date

    def finished(self, summary: Any) -> None:
        """Record the summary of the run that just finished, with the state of the data root it left."""
        dump = getattr(summary, "model_dump", None)
        remember(self.root, self.key, dump(mode="json") if dump else dict(summary), self.extra_files)


@contextmanager
def stage_once(
    root: Path,
    stage: str,
    settings: list[Any],
    wait: float | None,
    rerun: bool = False,
    extra_files: list[str] | None = None,
) -> Iterator[Once]:
    """Hold the writer lock; `once.summary` is set (and said) when `stage` with `settings` is up to date. A data root
    that does not exist (a mistyped --data-root) is said at once, before the lock, Prefect or its API start; an
    existing one without the stage's input gets the stage's own error, which says what to run first."""
    root = Path(root).resolve()
    if not root.exists():
        from warehouse.catalog import require_warehouse  # (here: DuckDB is not imported by every command's start)

        require_warehouse(root)
    key = stage_key(stage, __version__, *settings)
    with writer_lock(root, wait=wait, command=f"curate {stage}"):
        once = Once(root, key, extra_files)
        entry = None if rerun else recall(root, key, extra_files)
        if entry is not None:
            once.summary = SimpleNamespace(**entry["summary"])
            out.print(
                f"[dim]{stage}: up to date, nothing changed since it finished at {entry['finished_at']} "
                "(--rerun runs it anyway); its summary:[/]"
            )
        yield once
