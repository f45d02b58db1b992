"""A bridge from tasks to the CLI's progress bars, keyed by what reports and the data root.

Tasks receive only ids and config models (Prefect hashes task inputs); a task running in this process
looks up the progress callback of its kind and data root here (`get("ingest", root)`). Where none is
registered (another process, a Dask worker, a scheduled run) progress is simply not reported.

Kinds and their callbacks: `ingest` (records, bytes), `llm` (an LLMResult, the gateway's stats),
`minhash` (shards, documents), `decontam` (shards, texts checked), `dedup` (pairs verified, pairs in all),
`stage` (a pipeline stage's name, its summary or None, the reason it was skipped or None).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ProgressFn = Callable[..., None]

_callbacks: dict[str, ProgressFn] = {}


def _key(kind: str, data_root: Any) -> str:
    return f"{kind}:{data_root}"


def register(kind: str, data_root: Any, callback: ProgressFn) -> None:
    _callbacks[_key(kind, data_root)] = callback


def unregister(kind: str, data_root: Any) -> None:
    _callbacks.pop(_key(kind, data_root), None)


def get(kind: str, data_root: Any) -> ProgressFn | None:
    return _callbacks.get(_key(kind, data_root))
