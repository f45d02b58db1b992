"""Which shards and which runs a stage reads: the current docs shards, a table's shards (of one run or all),
the newest filter, the latest finished run of a flow. Every stage asks here instead of asking another stage.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from warehouse.catalog import query
from warehouse.runs import RunRecord, read_runs
from warehouse.shards import done_shards, run_dir


def table_shards(root: Path, table: str, run_id: str | None = None) -> list[str]:
    """The done shards (with rows) of `table`, of one run or of every run, in a stable order."""
    folder = run_dir(root, table, run_id) if run_id else None
    return [str(p) for p, _ in done_shards(root, table) if folder is None or p.parent == folder]


def current_docs_shards(root: Path) -> list[str]:
    """The docs shards of the runs that the `docs` view shows (for each source, its latest ingest)."""
    _, rows = query(root, "SELECT DISTINCT run_id FROM ingest_versions")
    current = {r[0] for r in rows}
    return [str(p) for p, _ in done_shards(root, "docs") if p.parent.name.removeprefix("run=") in current]


# The tables of texts that stages read like documents (an `id` and a `text`).
TextTable = Literal["docs", "generations", "instructions", "responses"]
# What to run when one of them is empty.
FIRST_RUN = {
    "docs": "run `curate ingest` first",
    "generations": "run `curate synth textbooks` first",
    "instructions": "run `curate synth instructions` first",
    "responses": "run `curate synth responses` first",
}


def text_shards(root: Path, table: TextTable) -> list[str]:
    """The shards of a table of texts: the current docs shards, or every shard of the others."""
    return current_docs_shards(root) if table == "docs" else table_shards(root, table)


def newest_filter(root: Path, filter_id: str | None = None) -> tuple[str, str] | None:
    """(filter_id, path) of `filter_id`, or of the newest filter; None when there is none."""
    sql = "SELECT filter_id, path FROM filters_all" + (" WHERE filter_id = ?" if filter_id else "")
    _, rows = query(root, sql + " ORDER BY created DESC LIMIT 1", [filter_id] if filter_id else [])
    return (rows[0][0], rows[0][1]) if rows else None


def latest_run(root: Path, flow: str, status: str = "finished") -> RunRecord | None:
    """The latest run of `flow` with `status`, or None."""
    runs = [r for r in read_runs(root) if r.flow == flow and r.status == status]
    return runs[-1] if runs else None
