"""Pure rules of scheduled runs: which late runs a restarted `curate serve` drops (at most one catch-up run
per deployment, never a burst of every run missed while nothing was serving)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any


def late_runs_to_drop(
    scheduled: list[tuple[Any, datetime]], now: datetime, grace: timedelta = timedelta(seconds=5)
) -> list[Any]:
    """Of a deployment's runs still Scheduled, as (id, expected start): the late ones (expected more than `grace`
    ago) except the newest of them, which is the one catch-up run. Future runs are kept."""
    late = sorted((start, run_id) for run_id, start in scheduled if start < now - grace)
    return [run_id for _, run_id in late[:-1]]
