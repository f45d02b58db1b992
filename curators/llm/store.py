"""The LLM stages' warehouse reads and writes: a run's items cut into batches, each batch one checkpoint
shard of the stage's table with its done-marker, and the statuses of the rows a run wrote."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from warehouse.catalog import refresh_views
from warehouse.listings import table_shards
from warehouse.schemas import schema_for
from warehouse.shards import CheckpointWriter

UNBOUNDED = 1 << 40  # a batch is flushed explicitly, once all its answers are in


@dataclass
class Batch:
    index: int
    items: list[str]  # the item ids of its requests
    writer: CheckpointWriter
    done: bool


def plan_batches(
    root: Path, run_id: str, table: str, items: list[str], batch_size: int, depends_on: str, first_index: int = 0
) -> list[Batch]:
    """`items` cut into batches of `batch_size` (shards `first_index`, +1, ...), each knowing whether an earlier
    call of the run wrote it. A batch is redone when its members or `depends_on` change."""
    batches = []
    for index, start in enumerate(range(0, len(items), batch_size), start=first_index):
        chunk = items[start : start + batch_size]
        fingerprint = hashlib.sha256((depends_on + "\n".join(chunk)).encode()).hexdigest()[:16]
        writer = CheckpointWriter(
            root, run_id, index, {table: schema_for(table)}, fingerprint, max_rows=UNBOUNDED, max_bytes=UNBOUNDED
        )
        batches.append(Batch(index, chunk, writer, done=writer.resume().finished))
    return batches


def refresh(root: Path) -> None:
    """Rebuild the catalog's views over the shards written so far."""
    refresh_views(root)


def statuses_of_run(root: Path, table: str, run_id: str) -> dict[str, int]:
    """Rows per `status` in the done shards that run `run_id` wrote to `table`."""
    counts: Counter[str] = Counter()
    for shard in table_shards(root, table, run_id):
        counts.update(pq.read_table(shard, columns=["status"]).column("status").to_pylist())
    return dict(sorted(counts.items()))
