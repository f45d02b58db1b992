"""The decontam stage's warehouse reads and writes: one `contamination` shard per input shard of documents
or generations (through the shard mapper), and the per-benchmark removal table.

A stage adds evidence and deletes nothing: the `curated` view leaves out the documents with a
`contamination` row, the `synthetic` view marks such generations not `usable`.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curators.decontam.config import DecontamConfig
from curators.decontam.index import ContaminationIndex, contamination_rows, removals_table
from curators.decontam.stored_index import stored_index
from warehouse.catalog import query
from warehouse.mapper import Mapped, map_shard
from warehouse.schemas import CONTAMINATION

# Which rows of an input shard are checked: every document; only the generations that were written.
_ROWS_CHECKED = {"docs": None, "generations": "ok", "instructions": "ok", "responses": "ok"}


@functools.lru_cache(maxsize=2)
def loaded_index(config_json: str) -> ContaminationIndex:
    """The index of a config, once per process: read from the on-disk cache, or built (~10 s) and stored there."""
    return stored_index(DecontamConfig.model_validate_json(config_json))


def decontam_shard(root: Path, run_id: str, target: str, shard: str, config: DecontamConfig) -> tuple[int, int, Mapped]:
    """Check every text of one `target` shard (docs, or the ok generations) against the benchmark index;
    writes its `contamination` shard. Returns (texts checked, texts flagged, the mapped shard)."""
    if target not in _ROWS_CHECKED:
        raise ValueError(f"unknown decontamination target {target!r}; known: {', '.join(_ROWS_CHECKED)}")
    status = _ROWS_CHECKED[target]
    columns = ["id", "text"] + (["status"] if status else [])
    table = pq.read_table(shard, columns=columns)
    if status:
        table = table.filter(pc.equal(table.column("status"), status))
    ids, texts = table.column("id").to_pylist(), table.column("text").to_pylist()
    config_json = config.model_dump_json()

    def compute(_: Path) -> pa.Table:
        index = loaded_index(config_json)
        rows = [
            row
            for i, text in zip(ids, texts, strict=True)
            for row in contamination_rows(i, target, index.find(text), run_id)
        ]
        return pa.Table.from_pylist(rows, schema=CONTAMINATION)

    mapped = map_shard(root, run_id, "contamination", shard, config_json, compute)
    flagged = pq.read_table(mapped.shard, columns=["id"]).column("id").to_pylist() if mapped.rows else []
    return len(ids), len(set(flagged)), mapped


def removals(root: Path, target: str | None = None, sizes: dict[str, int] | None = None) -> list[dict[str, Any]]:
    """Per benchmark: texts flagged and distinct items matched, from the `contamination` view (of one target,
    or of both); with `sizes`, every benchmark appears with its item count."""
    sql = "SELECT id, benchmark, item_id FROM contamination" + (" WHERE target = ?" if target else "")
    columns, rows = query(root, sql, [target] if target else [])
    return removals_table([dict(zip(columns, r, strict=True)) for r in rows], sizes)
