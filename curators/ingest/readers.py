"""Readers: turn one `InputUnit` (JSONL, Parquet, CSV, text and code folders, local HF datasets, the
Python standard library) into `Doc` rows and `Reject` rows.

A record is one JSON line, one table row, one file of a folder; a file that cannot be parsed at all
(a truncated Parquet file, a corrupt archive) is one record, rejected whole, and an unreadable row
group or the broken tail of a compressed stream is one record too.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from curators.errors import SourceError
from curators.ingest.jsonl import read_jsonl
from curators.ingest.plan import BUILTIN_STDLIB, CODE_LANGUAGES, NOT_READ_FORMAT, InputUnit, _strip_compression
from curators.ingest.records import (
    EXCERPT_CHARS,
    Record,
    Reject,
    RejectReason,
    excerpt,
    make_record,
    printable_path,
)
from curators.ingest.streams import open_binary, skip

# ---------------------------------------------------------------------------------------------
# Readers. Each yields one Record per input record, in a deterministic order, starting after the
# first `start` records (for resuming a unit from its last checkpoint).
# ---------------------------------------------------------------------------------------------


class _Context:
    def __init__(self, unit: InputUnit, max_bytes: int, hash_text: bool = True) -> None:
        self.unit = unit
        self.spec = unit.spec
        self.source = unit.source
        self.max_bytes = max_bytes
        self.root = Path(unit.root)
        self.hash_text = hash_text  # False: Docs leave text_hash empty, for `text_hashes` in batches

    def rel(self, path: str | Path) -> str:
        """The locator of a file: its path below the source's folder, as printable text."""
        try:
            return printable_path(Path(path).relative_to(self.root).as_posix())
        except ValueError:
            return printable_path(Path(path).as_posix())

    def reject(
        self, locator: str, reason: RejectReason, detail: str, value: Any = None, n_bytes: int | None = None
    ) -> Reject:
        return Reject(self.source, locator, reason, detail, excerpt(value), n_bytes)

    def from_row(self, row: dict[str, Any], default_locator: str) -> Record:
        """A record from a tabular row (JSON object, Parquet/Arrow/CSV row)."""
        spec = self.spec
        if spec.text_field not in row:
            keys = ", ".join(list(row)[:12])
            return self.reject(
                default_locator,
                RejectReason.MISSING_TEXT_FIELD,
                f"no field {spec.text_field!r}; fields: {keys} (set text_field)",
                json.dumps(row, default=str)[:EXCERPT_CHARS],
            )
        locator = default_locator
        if spec.id_field:
            if row.get(spec.id_field) in (None, ""):
                return self.reject(
                    default_locator,
                    RejectReason.MISSING_ID_FIELD,
                    f"no value for id_field {spec.id_field!r}",
                    row.get(spec.text_field),
                )
            locator = str(row[spec.id_field])
        value = row[spec.text_field]
        if not isinstance(value, str):
            kind = "null" if value is None else type(value).__name__
            return self.reject(
                locator,
                RejectReason.NON_STRING_TEXT,
                f"field {spec.text_field!r} is {kind}, not a string",
                str(value),
            )
        if spec.meta_fields is not None:
            meta = {k: row.get(k) for k in spec.meta_fields}
        else:
            meta = {k: v for k, v in row.items() if k not in (spec.text_field, spec.id_field)}
        if spec.id_field:
            meta.setdefault("_row", default_locator)
        return make_record(self.source, locator, value, meta, self.max_bytes, spec.encoding, None, self.hash_text)


def _read_files(ctx: _Context, start: int) -> Iterator[Record]:
    """Text and code folders: one record per file. Skipped files are not opened."""
    for path in ctx.unit.paths[start:]:
        rel = ctx.rel(path)
        meta: dict[str, Any] = {"path": rel}
        lang = None
        if ctx.unit.format == "code":
            meta["language"] = CODE_LANGUAGES.get(Path(path).suffix.lower(), Path(path).suffix.lstrip("."))
            if ctx.source == BUILTIN_STDLIB:
                meta["python_version"] = f"{sys.version_info.major}.{sys.version_info.minor}"
        try:
            size = os.stat(path).st_size
            if size > ctx.max_bytes:
                with open(path, "rb") as fh:
                    head = fh.read(EXCERPT_CHARS)
                yield ctx.reject(
                    rel, RejectReason.TOO_LARGE, f"{size} bytes > max_doc_bytes {ctx.max_bytes}", head, size
                )
                continue
            with open(path, "rb") as fh:
                data = fh.read(ctx.max_bytes + 1)
            record = make_record(ctx.source, rel, data, meta, ctx.max_bytes, ctx.spec.encoding, lang, ctx.hash_text)
        except OSError as exc:
            yield ctx.reject(rel, RejectReason.UNREADABLE, f"{type(exc).__name__}: {exc.strerror or exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one bad file is one reject, never the failure of its unit
            yield ctx.reject(rel, RejectReason.UNREADABLE, f"{type(exc).__name__}: {exc}")
            continue
        yield record


def _read_parquet(ctx: _Context, start: int) -> Iterator[Record]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = ctx.unit.paths[0]
    rel = ctx.rel(path)

    def records() -> Iterator[Record]:
        try:
            pf = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            yield ctx.reject(rel, RejectReason.MALFORMED_FILE, f"not a readable Parquet file: {exc}")
            return
        names = pf.schema_arrow.names
        if ctx.spec.text_field not in names:
            yield ctx.reject(
                rel,
                RejectReason.MISSING_TEXT_FIELD,
                f"no column {ctx.spec.text_field!r}; columns: {', '.join(names[:20])} (set text_field)",
            )
            return
        columns = None
        if ctx.spec.meta_fields is not None:
            wanted = {
                ctx.spec.text_field,
                *(ctx.spec.meta_fields),
                *([ctx.spec.id_field] if ctx.spec.id_field else []),
            }
            columns = [n for n in names if n in wanted]
        row_no = 0
        for group in range(pf.num_row_groups):
            n_rows = pf.metadata.row_group(group).num_rows
            emitted = 0
            try:
                for batch in pf.iter_batches(batch_size=512, row_groups=[group], columns=columns):
                    for row in batch.to_pylist():
                        yield ctx.from_row(row, f"{rel}#{row_no + emitted}")
                        emitted += 1
            except (OSError, pa.ArrowException) as exc:
                yield ctx.reject(
                    f"{rel}#{row_no + emitted}",
                    RejectReason.MALFORMED_FILE,
                    f"row group {group} unreadable after {emitted} of {n_rows} rows: {exc}",
                )
            row_no += n_rows

    yield from skip(records(), start)


def _read_arrow(ctx: _Context, start: int) -> Iterator[Record]:
    """An Arrow file of a dataset saved with `datasets.save_to_disk` (IPC stream or file format)."""
    import pyarrow as pa

    path = ctx.unit.paths[0]
    rel = ctx.rel(path)
    split = Path(rel).parent.as_posix()

    def records() -> Iterator[Record]:
        try:
            source = pa.memory_map(path, "r")
            try:
                reader = pa.ipc.open_stream(source)
            except pa.ArrowInvalid:
                reader = pa.ipc.open_file(source)
                batches = (reader.get_batch(i) for i in range(reader.num_record_batches))
            else:
                batches = iter(reader)
        except (OSError, pa.ArrowException) as exc:
            yield ctx.reject(rel, RejectReason.MALFORMED_FILE, f"not a readable Arrow file: {exc}")
            return
        row_no = 0
        try:
            for batch in batches:
                for row in batch.to_pylist():
                    if split not in ("", "."):
                        row.setdefault("_split", split)
                    yield ctx.from_row(row, f"{rel}#{row_no}")
                    row_no += 1
        except (OSError, pa.ArrowException) as exc:
            yield ctx.reject(f"{rel}#{row_no}", RejectReason.MALFORMED_FILE, f"unreadable after {row_no} rows: {exc}")

    yield from skip(records(), start)


def _read_csv(ctx: _Context, start: int) -> Iterator[Record]:
    path = ctx.unit.paths[0]
    rel = ctx.rel(path)
    delimiter = "\t" if _strip_compression(path.lower()).endswith(".tsv") else ","

    def records() -> Iterator[Record]:
        csv.field_size_limit(max(2 * ctx.max_bytes + 65536, 131072))
        try:
            raw = open_binary(path)
        except OSError as exc:
            yield ctx.reject(rel, RejectReason.UNREADABLE, f"{type(exc).__name__}: {exc}")
            return
        # utf-8-sig: a byte-order mark before the header is not part of the first column's name.
        encoding = "utf-8-sig" if codecs.lookup(ctx.spec.encoding).name == "utf-8" else ctx.spec.encoding
        with io.TextIOWrapper(raw, encoding=encoding, errors="surrogateescape", newline="") as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            try:
                header = next(reader)
            except StopIteration:
                yield ctx.reject(rel, RejectReason.EMPTY, "empty CSV file (no header)")
                return
            except (csv.Error, OSError, EOFError, ValueError) as exc:
                yield ctx.reject(rel, RejectReason.MALFORMED_FILE, f"unreadable CSV header: {exc}")
                return
            row_no = 0
            while True:
                line = reader.line_num
                try:
                    values = next(reader)
                except StopIteration:
                    return
                except csv.Error as exc:
                    yield ctx.reject(f"{rel}:{line + 1}", RejectReason.MALFORMED_FILE, f"bad CSV row: {exc}")
                    if reader.line_num == line:
                        return  # no progress: the rest of the file cannot be parsed
                    continue
                except (OSError, EOFError, ValueError) as exc:
                    yield ctx.reject(
                        f"{rel}:{line + 1}",
                        RejectReason.MALFORMED_FILE,
                        f"stream unreadable after line {line}: {exc}",
                    )
                    return
                if not any(v.strip() for v in values):
                    continue  # a blank line is not a record
                row_no += 1
                if len(values) != len(header):
                    yield ctx.reject(
                        f"{rel}:{line + 1}",
                        RejectReason.MALFORMED_FILE,
                        f"{len(values)} fields, header has {len(header)}",
                        ",".join(values),
                    )
                    continue
                yield ctx.from_row(dict(zip(header, values, strict=True)), f"{rel}:{line + 1}")

    yield from skip(records(), start)


def _not_read(ctx: _Context, start: int) -> Iterator[Record]:
    """The files of a folder source that it does not read: one reject each, with why; none is opened."""
    for path, why in list(zip(ctx.unit.paths, ctx.unit.notes, strict=True))[start:]:
        yield ctx.reject(ctx.rel(path), RejectReason.NOT_READ, why)


READERS: dict[str, Callable[[_Context, int], Iterator[Record]]] = {
    "text": _read_files,
    "code": _read_files,
    "jsonl": read_jsonl,
    "parquet": _read_parquet,
    "csv": _read_csv,
    "hf": _read_arrow,
    NOT_READ_FORMAT: _not_read,
}


def read_unit(unit: InputUnit, max_doc_bytes: int, start: int = 0, hash_text: bool = True) -> Iterator[Record]:
    """Every record of `unit` after the first `start`, as Doc or Reject rows. Without `hash_text`, Docs leave
    `text_hash` empty (`curators.ingest.records.text_hashes` fills a batch of them at once)."""
    try:
        reader = READERS[unit.format]
    except KeyError:
        raise SourceError(f"unknown format {unit.format!r}", hint=f"formats: {', '.join(READERS)}") from None
    ctx = _Context(unit, max_doc_bytes, hash_text)
    return _guarded(ctx, reader(ctx, start), start)


def _guarded(ctx: _Context, records: Iterator[Record], start: int) -> Iterator[Record]:
    """The reader's records; an error a reader did not expect ends its file with one `unreadable` reject
    (where, and the error) instead of failing the unit. A rerun meets it at the same record again."""
    seen = start
    try:
        for record in records:
            seen += 1
            yield record
    except Exception as exc:  # noqa: BLE001 - one bad file is one reject, never the failure of its unit
        # The file being read: a folder unit's record k is its file k; a tabular unit has one file.
        where = ctx.rel(ctx.unit.paths[min(seen, len(ctx.unit.paths) - 1)])
        detail = f"reading stopped: {type(exc).__name__}: {exc}"
        yield ctx.reject(f"{where}#{seen}", RejectReason.UNREADABLE, detail)
