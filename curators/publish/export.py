"""Writing an export: each config's rows as Parquet files of bounded size, the whole folder swapped in at
once, and what the card needs to know about the files.

Layout (what `datasets.load_dataset(OUT, NAME)` reads through the card's `configs:`):

    OUT/README.md                                  the dataset card
    OUT/<config>/train-00000-of-00002.parquet      rows in a stable order (by id), zstd

The export is written into a sibling folder `OUT.partial-<pid>` and renamed into place at the end, so a
killed export leaves the previous one whole. A folder is only replaced if it holds the marker file of a
previous export (`.curate-export`): `curate export` never deletes a folder it did not write.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curators.errors import CurateError

MARKER = ".curate-export"
ROW_GROUP_BYTES = 64 << 20  # rows buffered before a row group is written (bounded memory)


@dataclass
class ConfigFiles:
    """One config as written: its files (relative to the export), rows, and sizes."""

    name: str
    schema: pa.Schema
    files: list[str] = field(default_factory=list)
    rows: int = 0
    nbytes: int = 0  # of the rows in memory (Arrow), the card's `num_bytes`
    download_size: int = 0  # of the Parquet files

    @property
    def pattern(self) -> str:
        return f"{self.name}/train-*.parquet"


def write_config(
    folder: Path, name: str, schema: pa.Schema, batches: Iterable[pa.RecordBatch], shard_bytes: int
) -> ConfigFiles:
    """Write `batches` as `folder/name/train-*.parquet`, a new file once one reaches `shard_bytes`."""
    done = ConfigFiles(name=name, schema=schema)
    (folder / name).mkdir(parents=True, exist_ok=True)
    parts: list[Path] = []
    writer: pq.ParquetWriter | None = None
    sink: pa.OSFile | None = None  # unbuffered: `tell()` is the bytes on disk so far
    buffered: list[pa.RecordBatch] = []
    buffered_bytes = 0

    def close() -> None:
        nonlocal writer, sink
        if writer is not None and sink is not None:
            writer.close()
            sink.close()
        writer = sink = None

    def flush() -> None:
        nonlocal writer, sink, buffered, buffered_bytes
        if not buffered:
            return
        if writer is None:
            parts.append(folder / name / f"part-{len(parts):05d}.parquet")
            sink = pa.OSFile(str(parts[-1]), "wb")
            writer = pq.ParquetWriter(sink, schema, compression="zstd")
        writer.write_table(pa.Table.from_batches(buffered, schema=schema))
        buffered, buffered_bytes = [], 0
        if sink is not None and sink.tell() >= shard_bytes:
            close()

    for batch in batches:
        batch = batch.cast(schema) if batch.schema != schema else batch
        buffered.append(batch)
        buffered_bytes += batch.nbytes
        done.rows += batch.num_rows
        done.nbytes += batch.nbytes
        if buffered_bytes >= min(ROW_GROUP_BYTES, shard_bytes):
            flush()
    flush()
    close()
    if not parts:  # no rows: one empty file, so the config still loads (with its columns)
        parts.append(folder / name / "part-00000.parquet")
        pq.write_table(schema.empty_table(), parts[-1], compression="zstd")
    for k, part in enumerate(parts):
        final = part.with_name(f"train-{k:05d}-of-{len(parts):05d}.parquet")
        part.rename(final)
        done.files.append(f"{name}/{final.name}")
        done.download_size += final.stat().st_size
    return done


def partial_folder(out: Path) -> Path:
    """A fresh sibling folder to write the export into; refuses an `out` that is not a previous export."""
    out = out.resolve()
    if out.exists() and not (out.is_dir() and ((out / MARKER).is_file() or not any(out.iterdir()))):
        raise CurateError(
            f"{out} exists and is not an export of curate (no {MARKER} in it)",
            hint="give a new folder, or an earlier export to replace",
        )
    partial = out.with_name(f"{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    (partial / MARKER).write_text("written by `curate export`; replaced whole by the next one\n")
    return partial


def swap_in(partial: Path, out: Path) -> None:
    """Put the finished export at `out`, replacing a previous one whole."""
    out = out.resolve()
    old = out.with_name(f"{out.name}.old-{os.getpid()}")
    if out.exists():
        out.rename(old)
    partial.rename(out)
    shutil.rmtree(old, ignore_errors=True)
