"""Ingest one unit of input into `docs` and `rejects` shards, resumably, with bounded memory.

Rows are buffered up to `shard_rows` rows or `shard_bytes` bytes of text, then written as a
checkpoint (see `warehouse.shards.CheckpointWriter`). A killed unit, rerun, continues after its last
complete checkpoint; a finished unit is skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

from curators.ingest.config import IngestConfig
from curators.ingest.plan import InputUnit
from curators.ingest.readers import read_unit
from curators.ingest.records import Doc
from warehouse.schemas import DOCS, REJECTS
from warehouse.shards import CheckpointWriter

ProgressFn = Callable[[int, int], None]  # (records, bytes) since the last call
PROGRESS_EVERY = 256


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
    pending_records = pending_bytes = 0
    for record in read_unit(unit, config.max_doc_bytes, start=cursor):
        cursor += 1
        if isinstance(record, Doc):
            writer.add(
                "docs",
                {
                    "id": record.id,
                    "source": record.source,
                    "locator": record.locator,
                    "text": record.text,
                    "text_hash": record.text_hash,
                    "n_chars": record.n_chars,
                    "n_bytes": record.n_bytes,
                    "lang": record.lang,
                    "meta": record.meta,
                    "run_id": run_id,
                },
                n_bytes=record.n_bytes,
            )
            pending_bytes += record.n_bytes
        else:
            writer.add(
                "rejects",
                {
                    "source": record.source,
                    "locator": record.locator,
                    "reason": str(record.reason),
                    "detail": record.detail,
                    "excerpt": record.excerpt,
                    "n_bytes": record.n_bytes,
                    "run_id": run_id,
                },
                n_bytes=len(record.excerpt),
            )
            pending_bytes += record.n_bytes or 0
        if writer.should_flush:
            writer.flush(cursor)
        pending_records += 1
        if progress and pending_records >= PROGRESS_EVERY:
            progress(pending_records, pending_bytes)
            pending_records = pending_bytes = 0
    writer.flush(cursor, final=True)
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
