"""What the warehouse holds: tables and row counts, recent runs, rejects by reason.

Reads only the DuckDB catalog (never Prefect or models), so `curate status` answers at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from warehouse.catalog import connect
from warehouse.lock import is_locked
from warehouse.schemas import TABLES


@dataclass
class Status:
    root: Path
    tables: dict[str, int] = field(default_factory=dict)  # current views and their row counts
    runs: list[dict[str, Any]] = field(default_factory=list)  # newest first
    rejects_by_reason: list[tuple[str, str, int]] = field(default_factory=list)  # (source, reason, n)
    sources: list[tuple[str, int, int, int]] = field(default_factory=list)  # (source, docs, chars, rejects)
    labels: list[tuple[str, str, int | None, int]] = field(default_factory=list)  # (model, status, score, n)
    locked: bool = False


def read_status(root: Path, max_runs: int = 10) -> Status:
    status = Status(root=Path(root).resolve(), locked=is_locked(root))
    with connect(root, read_only=True) as con:
        for table in ("docs", "rejects", *[t for t in TABLES if t not in ("docs", "rejects")], "curated"):
            status.tables[table] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        rows = con.execute(
            "SELECT run_id, flow, status, started, finished, counts, error FROM runs ORDER BY started DESC LIMIT ?",
            [max_runs],
        ).fetchall()
        for run_id, flow, state, started, finished, counts, error in rows:
            if state == "running" and not status.locked:
                state = "interrupted"  # nobody holds the writer lock: the run was killed
            status.runs.append(
                {
                    "run_id": run_id,
                    "flow": flow,
                    "status": state,
                    "started": started,
                    "finished": finished,
                    "counts": json.loads(counts or "{}"),
                    "error": error,
                }
            )
        status.rejects_by_reason = con.execute(
            "SELECT source, reason, count(*) FROM rejects GROUP BY ALL ORDER BY 1, 3 DESC"
        ).fetchall()
        status.sources = con.execute(
            """
            SELECT source, coalesce(d.n, 0), coalesce(d.chars, 0), coalesce(r.n, 0)
            FROM (SELECT source, count(*) AS n, sum(n_chars) AS chars FROM docs GROUP BY source) d
            FULL OUTER JOIN (SELECT source, count(*) AS n FROM rejects GROUP BY source) r USING (source)
            ORDER BY source
            """
        ).fetchall()
        status.labels = con.execute(
            "SELECT model, status, score, count(*) FROM labels GROUP BY ALL ORDER BY 1, 2, 3"
        ).fetchall()
    return status
