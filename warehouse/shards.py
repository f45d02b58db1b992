"""Parquet shards: atomic writes, done-markers, and resumable checkpoints.

Layout: `<root>/tables/<table>/run=<run_id>/part-UUUUU-SSSSS.parquet`, where U is the unit of work
(an input file, a group of files, a shard of an earlier stage) and S the checkpoint within it.
Beside each shard lies its done-marker `part-UUUUU-SSSSS.parquet.done` (JSON: rows, bytes, the input
cursor after the checkpoint, a fingerprint of the input).

A shard is written to a hidden temp file and renamed into place; its marker is written after that,
the same way. Readers only read shards whose marker exists and whose size matches the marker, so a
shard being written, or half-written by a killed process, is never read as data.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.arrays import table_from_rows
from warehouse.errors import RowError
from warehouse.schemas import schema_for

MARKER_SUFFIX = ".done"
PARQUET_COMPRESSION = "zstd"


def table_dir(root: Path, table: str) -> Path:
    return Path(root) / "tables" / table


def run_dir(root: Path, table: str, run_id: str) -> Path:
    return table_dir(root, table) / f"run={run_id}"


def shard_name(unit: int, seq: int) -> str:
    return f"part-{unit:05d}-{seq:05d}.parquet"


def marker_path(shard: Path) -> Path:
    return shard.with_name(shard.name + MARKER_SUFFIX)


def _temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see either the old file or the whole new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_parquet_atomic(path: Path, table: pa.Table, **options: Any) -> int:
    """Write a Parquet file via temp file + rename; returns its size in bytes. `options` go to
    `pyarrow.parquet.write_table` (e.g. `use_dictionary`, `write_statistics`: how, never what, is written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    try:
        pq.write_table(table, tmp, compression=PARQUET_COMPRESSION, **options)
        size = tmp.stat().st_size
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return size


def read_marker(shard: Path) -> dict[str, Any] | None:
    """The marker of `shard`, or None when there is none (or it is unreadable: not done)."""
    try:
        return json.loads(marker_path(shard).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def is_done(shard: Path, marker: dict[str, Any] | None = None) -> bool:
    """True when the shard's marker exists and the shard is complete (size as recorded)."""
    marker = read_marker(shard) if marker is None else marker
    if marker is None:
        return False
    if marker.get("rows", 0) == 0:
        return True  # an empty checkpoint has a marker and no file
    try:
        return shard.stat().st_size == marker.get("bytes")
    except OSError:
        return False


def write_shard(
    shard: Path, data: pa.Table, *, parquet: dict[str, Any] | None = None, **marker_fields: Any
) -> dict[str, Any]:
    """Write one shard and then its marker. A table with no rows writes the marker alone. `parquet`: options
    of `write_parquet_atomic`."""
    marker: dict[str, Any] = {"rows": data.num_rows, "bytes": 0, **marker_fields}
    if data.num_rows:
        marker["bytes"] = write_parquet_atomic(shard, data, **(parquet or {}))
    else:
        shard.unlink(missing_ok=True)
    marker["written_at"] = datetime.now(UTC).isoformat()
    write_bytes_atomic(marker_path(shard), json.dumps(marker, sort_keys=True).encode())
    return marker


def remove_shard(shard: Path) -> None:
    """Remove a shard, its marker and any temp file a killed writer left beside it."""
    marker_path(shard).unlink(missing_ok=True)
    shard.unlink(missing_ok=True)
    for tmp in shard.parent.glob(f".{shard.name}*.tmp"):
        tmp.unlink(missing_ok=True)


def done_shards(root: Path, table: str) -> list[tuple[Path, dict[str, Any]]]:
    """Every complete shard of `table` with rows, across runs, in a stable order."""
    found = []
    base = table_dir(root, table)
    if not base.is_dir():
        return found
    for marker_file in sorted(base.glob(f"run=*/*.parquet{MARKER_SUFFIX}")):
        shard = marker_file.with_name(marker_file.name[: -len(MARKER_SUFFIX)])
        marker = read_marker(shard)
        if marker and marker.get("rows", 0) > 0 and is_done(shard, marker):
            found.append((shard, marker))
    return found


def check_row(table: str, schema: pa.Schema, row: dict[str, Any]) -> None:
    """Raise `RowError` when `row` has a key `schema` lacks, or lacks one of its non-nullable columns (or
    holds None there). An optional column may be left out: it is null."""
    unknown = sorted(set(row) - set(schema.names))
    if unknown:
        raise RowError(f"table {table!r} has no column {unknown[0]!r} (its columns: {', '.join(schema.names)})")
    for f in schema:
        if not f.nullable and row.get(f.name) is None:
            state = "is missing from the row" if f.name not in row else "is None"
            raise RowError(f"table {table!r}: required column {f.name!r} {state}")


def check_columns(table: str, data: pa.Table) -> None:
    """Raise `RowError` when a non-nullable column of `data` holds a null: the check of `check_row` for rows
    built column by column (their keys are the schema's by construction)."""
    for f in data.schema:
        if not f.nullable and data.column(f.name).null_count:
            raise RowError(f"table {table!r}: required column {f.name!r} is None in a row")


def write_run_rows(root: Path, table: str, run_id: str, rows: list[dict[str, Any]], **marker_fields: Any) -> None:
    """A run's whole output of `table` as one shard (with its marker), every row checked against the schema."""
    schema = schema_for(table)
    for row in rows:
        check_row(table, schema, row)
    data = table_from_rows(rows, schema)
    write_shard(run_dir(root, table, run_id) / shard_name(0, 0), data, table=table, **marker_fields)


def read_run_rows(root: Path, table: str, run_id: str, columns: list[str] | None = None) -> list[dict] | None:
    """The rows run `run_id` wrote with `write_run_rows`, or None when it has not written them yet."""
    shard = run_dir(root, table, run_id) / shard_name(0, 0)
    marker = read_marker(shard)
    if not is_done(shard, marker):
        return None
    return pq.read_table(shard, columns=columns).to_pylist() if marker and marker.get("rows") else []


@dataclass
class ResumePoint:
    """Where a unit of work stands: the next checkpoint number and the input cursor to start from."""

    seq: int = 0
    cursor: int = 0
    finished: bool = False
    rows: dict[str, int] = field(default_factory=dict)


class CheckpointWriter:
    """Writes one unit of work's rows for several tables, as numbered checkpoints.

    Rows are buffered per table, column-wise. A checkpoint writes one shard per table plus its
    marker, each marker recording `cursor`: how many input records the unit has consumed. A
    checkpoint counts only when the markers of all its tables exist; `resume()` finds the last such
    checkpoint, removes anything written after it, and says where to continue. A changed input
    (another `fingerprint`) restarts the unit from zero.
    """

    def __init__(
        self,
        root: Path,
        run_id: str,
        unit: int,
        schemas: dict[str, pa.Schema],
        fingerprint: str,
        max_rows: int,
        max_bytes: int,
        parquet: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.root = Path(root)
        self.parquet = parquet or {}  # per table: options of `write_parquet_atomic`
        self.run_id = run_id
        self.unit = unit
        self.schemas = schemas
        self.fingerprint = fingerprint
        self.max_rows = max_rows
        self.max_bytes = max_bytes
        self.seq = 0
        self.rows_written: dict[str, int] = dict.fromkeys(schemas, 0)
        self._columns: dict[str, dict[str, list[Any]]] = {}
        self._names = {t: frozenset(s.names) for t, s in schemas.items()}
        self._required = {t: tuple(f.name for f in s if not f.nullable) for t, s in schemas.items()}
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self._reset_buffers()

    def _reset_buffers(self) -> None:
        self._columns = {t: {name: [] for name in s.names} for t, s in self.schemas.items()}
        self._buffered_rows = 0
        self._buffered_bytes = 0

    def _shard(self, table: str, seq: int) -> Path:
        return run_dir(self.root, table, self.run_id) / shard_name(self.unit, seq)

    def _unit_shards(self, table: str) -> Iterable[Path]:
        folder = run_dir(self.root, table, self.run_id)
        prefix = f"part-{self.unit:05d}-"
        names = {p.name.split(".parquet")[0].lstrip(".") for p in folder.glob(f"*{prefix}*")}
        return [folder / f"{n}.parquet" for n in sorted(names) if n.startswith(prefix)]

    def resume(self) -> ResumePoint:
        point = self.checkpoint()
        # Anything at or after the first incomplete checkpoint is stale: remove it.
        for table in self.schemas:
            for shard in self._unit_shards(table):
                seq = int(shard.name.split(".")[0].rsplit("-", 1)[1])
                if seq >= point.seq:
                    remove_shard(shard)
        self.seq = point.seq
        self.rows_written = dict(point.rows)
        return point

    def checkpoint(self) -> ResumePoint:
        """The last complete checkpoint on disk (read only: `resume` also removes what comes after it)."""
        point = ResumePoint(rows=dict.fromkeys(self.schemas, 0))
        while True:
            markers = [read_marker(self._shard(t, point.seq)) for t in self.schemas]
            complete = all(
                m is not None and m.get("fingerprint") == self.fingerprint and is_done(self._shard(t, point.seq), m)
                for t, m in zip(self.schemas, markers, strict=True)
            )
            if not complete:
                break
            point.cursor = markers[0]["cursor"]
            point.finished = bool(markers[0].get("final"))
            for t, m in zip(self.schemas, markers, strict=True):
                point.rows[t] += m["rows"]
            point.seq += 1
            if point.finished:
                break
        return point

    def add(self, table: str, row: dict[str, Any], n_bytes: int = 0) -> None:
        """Buffer one row. A key the table does not have, or a required (non-nullable) one that is
        missing or None, is an error naming the table and the key: never a silent null."""
        if row.keys() != self._names[table] or any(row[name] is None for name in self._required[table]):
            check_row(table, self.schemas[table], row)
        columns = self._columns[table]
        for name, values in columns.items():
            values.append(row.get(name))
        self._buffered_rows += 1
        self._buffered_bytes += n_bytes

    @property
    def should_flush(self) -> bool:
        return self._buffered_rows >= self.max_rows or self._buffered_bytes >= self.max_bytes

    @property
    def buffered_rows(self) -> int:
        return self._buffered_rows

    def flush(self, cursor: int, final: bool = False) -> None:
        """Write a checkpoint: every table's buffered rows, then their markers."""
        tables = {t: pa.Table.from_pydict(self._columns[t], schema=self.schemas[t]) for t in self.schemas}
        self.flush_tables(tables, cursor, final)
        self._reset_buffers()

    def flush_tables(self, tables: dict[str, pa.Table], cursor: int, final: bool = False) -> None:
        """Write a checkpoint from ready Arrow tables, one per table of this writer."""
        assert set(tables) == set(self.schemas), f"a checkpoint writes every table: {list(self.schemas)}"
        for table_name, table in tables.items():
            write_shard(
                self._shard(table_name, self.seq),
                table,
                parquet=self.parquet.get(table_name),
                table=table_name,
                run_id=self.run_id,
                unit=self.unit,
                seq=self.seq,
                cursor=cursor,
                final=final,
                fingerprint=self.fingerprint,
            )
            self.rows_written[table_name] += table.num_rows
        self.seq += 1
