"""A bridge from tasks to the CLI's progress bar, keyed by run id.

Tasks receive only ids and config models (Prefect hashes task inputs); a task running in this
process looks up the progress callback of its run here. Where none is registered (another process,
a Dask worker) progress is simply not reported.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressFn = Callable[[int, int], None]

_callbacks: dict[str, ProgressFn] = {}


def register(run_key: str, callback: ProgressFn) -> None:
    _callbacks[run_key] = callback


def unregister(run_key: str) -> None:
    _callbacks.pop(run_key, None)


def get(run_key: str) -> ProgressFn | None:
    return _callbacks.get(run_key)
