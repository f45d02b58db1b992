"""The shard mapper: one output shard for each input shard, for the stages that map a table shard by shard
(embeddings, scores, MinHash signatures, contamination).

An output shard is named by its input shard (`unit_of`), so whatever else is added later, the same input
gives the same output name. Its done-marker records a fingerprint of the input (path, size) and of what
the output depends on (`depends_on`: a config, a filter id); a rerun skips a done shard with the same
fingerprint and redoes one whose input or config changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from warehouse.ids import fingerprint
from warehouse.schemas import schema_for
from warehouse.shards import CheckpointWriter, run_dir, shard_name

UNBOUNDED = 1 << 62  # one checkpoint per unit: the mapper writes the whole output shard at once


@dataclass(frozen=True)
class Mapped:
    """What became of one input shard."""

    rows: int  # rows of the output shard
    computed: bool  # False: a done shard was found and nothing was computed
    shard: Path  # the output shard (absent on disk when it has no rows)


def unit_of(shard: Path | str) -> int:
    """A stable unit number for an input shard (its output keeps its name whatever else is added)."""
    rel = "/".join(Path(shard).parts[-3:])  # table/run=.../part-....parquet
    return int(hashlib.sha256(rel.encode()).hexdigest()[:8], 16)


def output_shard(root: Path, table: str, run_id: str, input_shard: Path | str) -> Path:
    """Where the mapper writes the output of `input_shard` in `table` for run `run_id`."""
    return run_dir(root, table, run_id) / shard_name(unit_of(input_shard), 0)


def _writer(root: Path, run_id: str, table: str, path: Path, depends_on: str) -> CheckpointWriter:
    return CheckpointWriter(
        root,
        run_id,
        unit_of(path),
        {table: schema_for(table)},
        fingerprint(path, path.stat().st_size, depends_on),
        max_rows=UNBOUNDED,
        max_bytes=UNBOUNDED,
    )


def is_mapped(root: Path, run_id: str, table: str, input_shard: Path | str, depends_on: str) -> bool:
    """Whether `map_shard` would find the output of `input_shard` done (and compute nothing)."""
    return _writer(root, run_id, table, Path(input_shard), depends_on).checkpoint().finished


def map_shard(
    root: Path,
    run_id: str,
    table: str,
    input_shard: Path | str,
    depends_on: str,
    compute: Callable[[Path], pa.Table],
) -> Mapped:
    """Write `compute(input_shard)` as the `table` shard of `input_shard`, unless it is already done."""
    path = Path(input_shard)
    writer = _writer(root, run_id, table, path, depends_on)
    out = output_shard(root, table, run_id, path)
    point = writer.resume()
    if point.finished:
        return Mapped(rows=point.rows[table], computed=False, shard=out)
    result = compute(path)
    writer.flush_tables({table: result}, cursor=result.num_rows, final=True)
    return Mapped(rows=result.num_rows, computed=True, shard=out)
