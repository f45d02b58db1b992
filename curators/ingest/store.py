"""Ingest one unit of input into `docs` and `rejects` shards, resumably, with bounded memory.

Rows are buffered up to `shard_rows` rows or `shard_bytes` bytes of text, then written as a
checkpoint (see `warehouse.shards.CheckpointWriter`). A killed unit, rerun, continues after its last
complete checkpoint; a finished unit is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel

from curators.ingest.config import IngestConfig
from curators.ingest.plan import InputUnit
from curators.ingest.readers import read_unit
from curators.ingest.records import Doc, Reject, text_hashes
from warehouse.arrays import int_array, string_array
from warehouse.schemas import DOCS, REJECTS
from warehouse.shards import CheckpointWriter, check_columns

ProgressFn = Callable[[int, int], None]  # (records, bytes) since the last call
PROGRESS_EVERY = 256
# How `docs` shards are written (not what): a dictionary only for the columns that repeat a few values (ids and
# texts are unique: their dictionary was work for nothing), no min/max statistics of texts and meta (they prune
# no query). A quarter less time than pyarrow's defaults, same rows.
DOCS_PARQUET = {
    "use_dictionary": ["source", "lang", "run_id"],
    "write_statistics": ["id", "source", "locator", "text_hash", "n_chars", "n_bytes", "lang", "run_id"],
}


class UnitResult(BaseModel):
    """What one unit did: counts over the whole unit, including work done before a resume."""

    unit: int
    source: str
    seen: int
    ingested: int
    rejected: int
    resumed_at: int = 0  # records already done when this call started
    skipped: bool = False  # the unit was already finished


def ingest_unit(
    unit: InputUnit,
    root: Path,
    run_id: str,
    config: IngestConfig,
    progress: ProgressFn | None = None,
) -> UnitResult:
    writer = CheckpointWriter(
        root=root,
        run_id=run_id,
        unit=unit.index,
        schemas={"docs": DOCS, "rejects": REJECTS},
        fingerprint=unit.fingerprint(),
        max_rows=config.shard_rows,
        max_bytes=config.shard_bytes,
        parquet={"docs": DOCS_PARQUET},
    )
    point = writer.resume()
    if point.finished:
        if progress:
            progress(point.cursor, unit.n_bytes)
        return UnitResult(
            unit=unit.index,
            source=unit.source,
            seen=point.cursor,
            ingested=point.rows["docs"],
            rejected=point.rows["rejects"],
            resumed_at=point.cursor,
            skipped=True,
        )

    cursor = point.cursor
    docs: list[Doc] = []
    rejects: list[Reject] = []
    buffered_bytes = pending_records = pending_bytes = 0
    max_rows, max_bytes = config.shard_rows, config.shard_bytes
    for record in read_unit(unit, config.max_doc_bytes, start=cursor, hash_text=False):
        cursor += 1
        if type(record) is Doc:
            docs.append(record)
            buffered_bytes += record.n_bytes
            pending_bytes += record.n_bytes
        else:
            rejects.append(record)
            buffered_bytes += len(record.excerpt)
            pending_bytes += record.n_bytes or 0
        if len(docs) + len(rejects) >= max_rows or buffered_bytes >= max_bytes:
            writer.flush_tables(shard_tables(docs, rejects, run_id), cursor)
            docs, rejects, buffered_bytes = [], [], 0
        pending_records += 1
        if progress and pending_records >= PROGRESS_EVERY:
            progress(pending_records, pending_bytes)
            pending_records = pending_bytes = 0
    writer.flush_tables(shard_tables(docs, rejects, run_id), cursor, final=True)
    if progress:
        progress(pending_records, pending_bytes)
    return UnitResult(
        unit=unit.index,
        source=unit.source,
        seen=cursor,
        ingested=writer.rows_written["docs"],
        rejected=writer.rows_written["rejects"],
        resumed_at=point.cursor,
    )


def shard_tables(docs: list[Doc], rejects: list[Reject], run_id: str) -> dict[str, pa.Table]:
    """One checkpoint's `docs` and `rejects` as Arrow tables, built column by column (not row by row), with the
    text hashes of the documents computed here in one batch (`text_hashes`)."""
    texts = [d.text for d in docs]
    tables = {
        "docs": pa.Table.from_arrays(
            [
                string_array([d.id for d in docs]),
                string_array([d.source for d in docs]),
                string_array([d.locator for d in docs]),
                string_array(texts, large=True),
                string_array(text_hashes(texts)),
                int_array([d.n_chars for d in docs]),
                int_array([d.n_bytes for d in docs]),
                string_array([d.lang for d in docs]),
                string_array([d.meta for d in docs]),
                string_array([run_id] * len(docs)),
            ],
            schema=DOCS,
        ),
        "rejects": pa.Table.from_arrays(
            [
                string_array([r.source for r in rejects]),
                string_array([r.locator for r in rejects]),
                string_array([str(r.reason) for r in rejects]),
                string_array([r.detail for r in rejects]),
                string_array([r.excerpt for r in rejects]),
                int_array([r.n_bytes for r in rejects]),
                string_array([run_id] * len(rejects)),
            ],
            schema=REJECTS,
        ),
    }
    for name, table in tables.items():
        check_columns(name, table)
    return tables
