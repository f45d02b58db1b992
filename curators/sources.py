"""Readers: turn inputs (JSONL, Parquet, CSV, text and code folders, local HF datasets, the Python
standard library) into `Doc` rows and `Reject` rows.

Every input record becomes exactly one `Doc` or one `Reject`, so `seen = ingested + rejected` holds
by construction. A record is one JSON line, one table row, one file of a folder; a file that cannot
be parsed at all (a truncated Parquet file, a corrupt archive) is one record, rejected whole, and an
unreadable row group or the broken tail of a compressed stream is one record too.

Decisions about bad input (each a `RejectReason`):
- Invalid UTF-8 is rejected, not decoded with replacement characters: U+FFFD in training text is
  noise a model learns, and a kept-but-flagged document would reach every later stage. The reject
  keeps the locator and an excerpt, and a source in another encoding is one setting away
  (`encoding:` in its source spec). Byte-order marks (UTF-8, UTF-16) are honoured.
- NUL bytes mean binary: rejected. Empty or whitespace-only text: rejected. Text over
  `max_doc_bytes` (UTF-8 bytes): rejected before it is decoded or parsed, with bounded memory.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import hashlib
import io
import json
import os
import sys
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Any

from pydantic import BaseModel

from curators.config import IngestConfig, SourceSpec, stable_hash
from curators.errors import SourceError
from curators.text import doc_id, text_hash

EXCERPT_CHARS = 200
BUILTIN_STDLIB = "python-stdlib"


class RejectReason(StrEnum):
    INVALID_UTF8 = "invalid_utf8"  # bytes that do not decode in the source's encoding
    INVALID_UNICODE = "invalid_unicode"  # text with lone surrogates (e.g. "\ud800" in JSON)
    BINARY = "binary"  # NUL bytes: not text
    EMPTY = "empty"  # empty or whitespace-only text
    TOO_LARGE = "too_large"  # over max_doc_bytes
    MALFORMED_JSON = "malformed_json"  # a JSON line that does not parse, or is not an object
    MISSING_TEXT_FIELD = "missing_text_field"  # no text field in the record (or the file)
    NON_STRING_TEXT = "non_string_text"  # the text field is null, a number, a list...
    MISSING_ID_FIELD = "missing_id_field"  # id_field is configured but absent in the record
    DUPLICATE_ID = "duplicate_id"  # id_field value seen before in the same input
    MALFORMED_FILE = "malformed_file"  # a file (or part of it) that cannot be parsed
    UNREADABLE = "unreadable"  # I/O error, permission denied, file vanished


@dataclass(slots=True)
class Doc:
    id: str
    source: str
    locator: str
    text: str
    text_hash: str
    n_chars: int
    n_bytes: int
    lang: str | None
    meta: str


@dataclass(slots=True)
class Reject:
    source: str
    locator: str
    reason: RejectReason
    detail: str
    excerpt: str
    n_bytes: int | None


Record = Doc | Reject

# ---------------------------------------------------------------------------------------------
# Formats and units
# ---------------------------------------------------------------------------------------------

TEXT_EXTENSIONS = (".txt", ".md", ".markdown", ".rst", ".text", ".tex", ".adoc", ".org")
CODE_LANGUAGES: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "c++",
    ".cpp": "c++",
    ".cxx": "c++",
    ".hpp": "c++",
    ".hh": "c++",
    ".cs": "c#",
    ".go": "go",
    ".rs": "rust",
    ".rb": "ruby",
    ".php": "php",
    ".swift": "swift",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".lua": "lua",
    ".pl": "perl",
    ".pm": "perl",
    ".r": "r",
    ".jl": "julia",
    ".sql": "sql",
    ".hs": "haskell",
    ".ml": "ocaml",
    ".dart": "dart",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".clj": "clojure",
    ".css": "css",
    ".scss": "css",
    ".vue": "vue",
    ".f90": "fortran",
    ".zig": "zig",
    ".nim": "nim",
    ".m": "objective-c",
    ".groovy": "groovy",
    ".ps1": "powershell",
    ".el": "emacs-lisp",
}
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
COMPRESSIONS = (".gz", ".zst")
TABULAR_FORMATS = ("jsonl", "parquet", "csv", "hf")


class InputUnit(BaseModel):
    """One task's worth of input: one tabular file, or a group of files of a folder source."""

    index: int
    source: str
    format: str  # the resolved reader: jsonl | parquet | csv | text | code | hf
    paths: list[str]
    root: str  # locators are relative to this folder
    spec: SourceSpec
    n_bytes: int = 0

    def fingerprint(self) -> str:
        """Changes when any of the unit's files or its reading options change."""
        digest = hashlib.sha256(f"{self.format}\x00{stable_hash(self.spec)}".encode())
        for path in self.paths:
            try:
                st = os.stat(path)
                digest.update(f"{path}\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
            except OSError:
                digest.update(f"{path}\x00missing\n".encode())
        return digest.hexdigest()[:16]


@dataclass
class Plan:
    units: list[InputUnit]
    skipped: dict[str, int]  # files left out of folder sources, by extension (reported, not silent)

    @property
    def n_bytes(self) -> int:
        return sum(u.n_bytes for u in self.units)


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _strip_compression(name: str) -> str:
    for suffix in COMPRESSIONS:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def format_of_file(path: Path) -> str | None:
    """The reader for a file by its name, or None when it is not an input we read."""
    name = _strip_compression(path.name.lower())
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith(".arrow"):
        return "hf"
    if path.name.lower() != name:
        return None  # compressed text or code files are not read
    if name.endswith(TEXT_EXTENSIONS):
        return "text"
    if Path(name).suffix in CODE_LANGUAGES:
        return "code"
    return None


def _walk(folder: Path) -> Iterator[Path]:
    """Files under `folder`, sorted, skipping hidden entries and caches; symlinked folders not followed."""
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and d != "__pycache__")
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath) / name


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _hf_data_files(folder: Path) -> list[Path] | None:
    """The Arrow files of a dataset saved with `datasets.save_to_disk`, or None if it is not one."""
    dict_file = folder / "dataset_dict.json"
    if dict_file.is_file():
        try:
            splits = json.loads(dict_file.read_text(encoding="utf-8"))["splits"]
        except (OSError, ValueError, KeyError) as exc:
            raise SourceError(f"{dict_file} is not a valid dataset_dict.json: {exc}") from None
        files: list[Path] = []
        for split in splits:
            files.extend(_hf_data_files(folder / split) or [])
        return files
    state_file = folder / "state.json"
    if state_file.is_file():
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
            return [folder / f["filename"] for f in state["_data_files"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SourceError(f"{state_file} is not a valid datasets state.json: {exc}") from None
    return None


def _has_extension(path: Path, extensions: list[str] | tuple[str, ...]) -> bool:
    return path.name.lower().endswith(tuple(e.lower() for e in extensions))


def _folder_file_format(file: Path, spec: SourceSpec) -> str | None:
    """The reader for a file found in a folder source, or None when the source does not read it."""
    if spec.format in ("text", "code"):
        default = TEXT_EXTENSIONS if spec.format == "text" else tuple(CODE_LANGUAGES)
        return spec.format if _has_extension(file, spec.extensions or default) else None
    fmt = format_of_file(file)
    if spec.format != "auto" and fmt != spec.format:
        return None
    if spec.extensions and not _has_extension(file, spec.extensions):
        return None
    return fmt


def plan_units(config: IngestConfig) -> Plan:
    """Expand the configured sources into units of work. Raises SourceError for an unusable source."""
    units: list[InputUnit] = []
    skipped: dict[str, int] = {}

    def add(spec: SourceSpec, fmt: str, paths: list[Path], root: Path) -> None:
        units.append(
            InputUnit(
                index=len(units),
                source=spec.source_name,
                format=fmt,
                paths=[str(p) for p in paths],
                root=str(root),
                spec=spec,
                n_bytes=sum(_size(p) for p in paths),
            )
        )

    def add_grouped(spec: SourceSpec, fmt: str, paths: list[Path], root: Path) -> None:
        step = config.files_per_unit
        for start in range(0, len(paths), step):
            add(spec, fmt, paths[start : start + step], root)

    for spec in config.sources:
        if spec.format == BUILTIN_STDLIB or (spec.path == BUILTIN_STDLIB and spec.format == "auto"):
            root = stdlib_dir()
            files = [
                p
                for p in _walk(root)
                if p.suffix == ".py" and not {"site-packages", "dist-packages"} & set(p.relative_to(root).parts)
            ]
            spec = spec.model_copy(update={"name": spec.name or BUILTIN_STDLIB})
            add_grouped(spec, "code", files, root)
            continue
        path = Path(spec.path).expanduser()
        if not path.exists():
            raise SourceError(
                f"source not found: {spec.path}",
                hint=f"check the path; the built-in source is '{BUILTIN_STDLIB}'",
            )
        if path.is_file():
            fmt = spec.format if spec.format != "auto" else format_of_file(path)
            if fmt is None:
                raise SourceError(
                    f"cannot tell the format of {spec.path}",
                    hint="pass --format jsonl|parquet|csv|text|code (or set `format:` in curate.yaml)",
                )
            add(spec, fmt, [path], path.parent)
            continue
        if spec.format == "hf" or (spec.format == "auto" and _hf_data_files(path) is not None):
            files = _hf_data_files(path)
            if not files:
                raise SourceError(
                    f"{spec.path} is not a dataset saved with `datasets.save_to_disk`",
                    hint="a folder of parquet/jsonl files is read with --format auto",
                )
            for file in files:
                add(spec, "hf", [file], path)
            continue
        grouped: dict[str, list[Path]] = {}
        for file in _walk(path):
            fmt = _folder_file_format(file, spec)
            if fmt is None:
                ext = file.suffix.lower() or "(no extension)"
                skipped[ext] = skipped.get(ext, 0) + 1
            elif fmt in TABULAR_FORMATS:
                add(spec, fmt, [file], path)
            else:
                grouped.setdefault(fmt, []).append(file)
        for fmt, files in grouped.items():
            add_grouped(spec, fmt, files, path)
        if not any(u.spec is spec for u in units):
            raise SourceError(
                f"no readable files in {spec.path}",
                hint="pass --format text|code and --ext to choose which files to read",
            )
    return Plan(units=units, skipped=skipped)


# ---------------------------------------------------------------------------------------------
# Records
# ---------------------------------------------------------------------------------------------


def excerpt(value: str | bytes | None, limit: int = EXCERPT_CHARS) -> str:
    """The start of an input, made printable (invalid bytes and control characters escaped),
    at most `limit` characters."""
    if value is None:
        return ""
    if isinstance(value, bytes):
        text = value[: limit * 4].decode("utf-8", "backslashreplace")
    else:
        text = value[: limit * 4].encode("utf-8", "backslashreplace").decode("utf-8")
    pieces: list[str] = []
    size = 0
    for char in text:
        piece = char if char.isprintable() or char in "\n\t" else repr(char)[1:-1]
        size += len(piece)
        if size > limit:
            break
        pieces.append(piece)
    return "".join(pieces)


def _decode(data: bytes, encoding: str) -> str:
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8) :].decode("utf-8")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    return data.decode(encoding)


def _json_meta(meta: dict[str, Any]) -> str:
    try:
        text = json.dumps(meta, ensure_ascii=False, default=str, sort_keys=True)
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return json.dumps(meta, ensure_ascii=True, default=str, sort_keys=True)


def make_record(
    source: str,
    locator: str,
    value: str | bytes,
    meta: dict[str, Any],
    max_bytes: int,
    encoding: str = "utf-8",
    lang: str | None = None,
) -> Record:
    """Check one document's text (bytes from a file, or a str from a table) and make its row."""

    def reject(reason: RejectReason, detail: str, n_bytes: int | None = None) -> Reject:
        return Reject(source, locator, reason, detail, excerpt(value), n_bytes)

    if isinstance(value, bytes):
        n_bytes = len(value)
        if n_bytes > max_bytes:
            return reject(RejectReason.TOO_LARGE, f"{n_bytes} bytes > max_doc_bytes {max_bytes}", n_bytes)
        if b"\x00" in value and not value.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            return reject(RejectReason.BINARY, "contains NUL bytes: binary, not text", n_bytes)
        try:
            text = _decode(value, encoding)
        except UnicodeDecodeError as exc:
            return reject(
                RejectReason.INVALID_UTF8,
                f"not valid {exc.encoding}: byte 0x{value[exc.start]:02x} at offset {exc.start} "
                f"(set `encoding:` on this source if it is not {encoding})",
                n_bytes,
            )
        except LookupError:
            return reject(RejectReason.INVALID_UTF8, f"unknown encoding {encoding!r}", n_bytes)
    else:
        text = value
        try:
            n_bytes = len(text.encode("utf-8"))
        except UnicodeEncodeError as exc:
            bad = text[exc.start]
            if "\udc80" <= bad <= "\udcff":  # surrogateescape: an undecodable byte of the file
                return reject(
                    RejectReason.INVALID_UTF8,
                    f"not valid {encoding}: byte 0x{ord(bad) - 0xDC00:02x} at character {exc.start} "
                    f"(set `encoding:` on this source if it is not {encoding})",
                )
            return reject(RejectReason.INVALID_UNICODE, f"lone surrogate U+{ord(bad):04X} at character {exc.start}")
        if n_bytes > max_bytes:
            return reject(RejectReason.TOO_LARGE, f"{n_bytes} bytes > max_doc_bytes {max_bytes}", n_bytes)
        if "\x00" in text:
            return reject(RejectReason.BINARY, "contains NUL characters: binary, not text", n_bytes)
    if not text.strip():
        return reject(RejectReason.EMPTY, "empty or whitespace-only text", n_bytes)
    return Doc(
        id=doc_id(source, locator),
        source=source,
        locator=locator,
        text=text,
        text_hash=text_hash(text),
        n_chars=len(text),
        n_bytes=n_bytes,
        lang=lang,
        meta=_json_meta(meta),
    )


# ---------------------------------------------------------------------------------------------
# Readers. Each yields one Record per input record, in a deterministic order, starting after the
# first `start` records (for resuming a unit from its last checkpoint).
# ---------------------------------------------------------------------------------------------


class _Context:
    def __init__(self, unit: InputUnit, max_bytes: int) -> None:
        self.unit = unit
        self.spec = unit.spec
        self.source = unit.source
        self.max_bytes = max_bytes
        self.root = Path(unit.root)

    def rel(self, path: str | Path) -> str:
        try:
            return Path(path).relative_to(self.root).as_posix()
        except ValueError:
            return Path(path).as_posix()

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
        return make_record(self.source, locator, value, meta, self.max_bytes, spec.encoding)


def _skip(records: Iterator[Record], start: int) -> Iterator[Record]:
    for i, record in enumerate(records):
        if i >= start:
            yield record


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
        except OSError as exc:
            yield ctx.reject(rel, RejectReason.UNREADABLE, f"{type(exc).__name__}: {exc.strerror or exc}")
            continue
        yield make_record(ctx.source, rel, data, meta, ctx.max_bytes, ctx.spec.encoding, lang)


def _open_binary(path: str) -> IO[bytes]:
    lower = path.lower()
    if lower.endswith(".gz"):
        return gzip.open(path, "rb")
    if lower.endswith(".zst"):
        import zstandard

        return io.BufferedReader(zstandard.open(path, "rb"))  # its own reader has no readline(limit)
    return open(path, "rb", buffering=1 << 20)


def _iter_lines(stream: IO[bytes], limit: int) -> Iterator[tuple[bytes, int]]:
    """Lines of at most `limit` bytes, as (line, size). A longer line is read through in bounded
    chunks and yielded as its first bytes with its true size (so the caller rejects it)."""
    while True:
        line = stream.readline(limit)
        if not line:
            return
        if len(line) < limit or line.endswith(b"\n"):
            yield line, len(line)
            continue
        size = len(line)
        head = line[: EXCERPT_CHARS * 4]
        while not line.endswith(b"\n"):
            line = stream.readline(1 << 20)
            if not line:
                break
            size += len(line)
        yield head, size


def _read_jsonl(ctx: _Context, start: int) -> Iterator[Record]:
    path = ctx.unit.paths[0]
    rel = ctx.rel(path)
    limit = 2 * ctx.max_bytes + 65536  # a JSON line may escape its text to twice its size
    seen_ids: set[bytes] = set()
    index = 0  # non-blank lines: the records of this file
    lineno = 0
    try:
        stream = _open_binary(path)
    except OSError as exc:
        if start == 0:
            yield ctx.reject(rel, RejectReason.UNREADABLE, f"{type(exc).__name__}: {exc}")
        return
    with stream:
        try:
            for line, size in _iter_lines(stream, limit):
                lineno += 1
                if lineno == 1 and line.lstrip().startswith(b"["):
                    if start == 0:
                        yield ctx.reject(
                            rel,
                            RejectReason.MALFORMED_FILE,
                            "a JSON array, not JSON Lines: convert it with `jq -c '.[]'`",
                            line,
                        )
                    return
                if not line.strip():
                    continue  # a blank line is not a record
                index += 1
                locator = f"{rel}:{lineno}"
                if index <= start:
                    if ctx.spec.id_field:  # remember the ids of skipped records for duplicate checks
                        _remember_id(ctx, line, locator, seen_ids)
                    continue
                if size > limit or (size == limit and not line.endswith(b"\n")):
                    yield ctx.reject(
                        locator,
                        RejectReason.TOO_LARGE,
                        f"line of {size} bytes > max_doc_bytes {ctx.max_bytes}",
                        line,
                        size,
                    )
                    continue
                try:
                    obj = json.loads(line)
                except UnicodeDecodeError as exc:
                    yield ctx.reject(locator, RejectReason.INVALID_UTF8, f"not valid UTF-8: {exc.reason}", line)
                    continue
                except ValueError as exc:
                    yield ctx.reject(locator, RejectReason.MALFORMED_JSON, f"{exc}", line)
                    continue
                if not isinstance(obj, dict):
                    yield ctx.reject(
                        locator,
                        RejectReason.MALFORMED_JSON,
                        f"a JSON {type(obj).__name__}, expected an object",
                        line,
                    )
                    continue
                record = ctx.from_row(obj, locator)
                if isinstance(record, Doc) and ctx.spec.id_field:
                    key = bytes.fromhex(record.id)[:16]
                    if key in seen_ids:
                        yield ctx.reject(
                            locator,
                            RejectReason.DUPLICATE_ID,
                            f"id {record.locator!r} appears earlier in this file",
                            record.text,
                        )
                        continue
                    seen_ids.add(key)
                yield record
        except (OSError, EOFError, ValueError) as exc:  # a truncated or corrupt compressed stream
            index += 1
            if index > start:
                yield ctx.reject(
                    f"{rel}:{lineno + 1}",
                    RejectReason.MALFORMED_FILE,
                    f"stream unreadable after line {lineno}: {type(exc).__name__}: {exc}",
                )


def _remember_id(ctx: _Context, line: bytes, locator: str, seen_ids: set[bytes]) -> None:
    try:
        obj = json.loads(line)
    except ValueError:
        return
    if isinstance(obj, dict):
        record = ctx.from_row(obj, locator)
        if isinstance(record, Doc):
            seen_ids.add(bytes.fromhex(record.id)[:16])


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

    yield from _skip(records(), start)


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

    yield from _skip(records(), start)


def _read_csv(ctx: _Context, start: int) -> Iterator[Record]:
    path = ctx.unit.paths[0]
    rel = ctx.rel(path)
    delimiter = "\t" if _strip_compression(path.lower()).endswith(".tsv") else ","

    def records() -> Iterator[Record]:
        csv.field_size_limit(max(2 * ctx.max_bytes + 65536, 131072))
        try:
            raw = _open_binary(path)
        except OSError as exc:
            yield ctx.reject(rel, RejectReason.UNREADABLE, f"{type(exc).__name__}: {exc}")
            return
        with io.TextIOWrapper(raw, encoding=ctx.spec.encoding, errors="surrogateescape", newline="") as fh:
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

    yield from _skip(records(), start)


READERS: dict[str, Callable[[_Context, int], Iterator[Record]]] = {
    "text": _read_files,
    "code": _read_files,
    "jsonl": _read_jsonl,
    "parquet": _read_parquet,
    "csv": _read_csv,
    "hf": _read_arrow,
}


def read_unit(unit: InputUnit, max_doc_bytes: int, start: int = 0) -> Iterator[Record]:
    """Every record of `unit` after the first `start`, as Doc or Reject rows."""
    try:
        reader = READERS[unit.format]
    except KeyError:
        raise SourceError(f"unknown format {unit.format!r}", hint=f"formats: {', '.join(READERS)}") from None
    return reader(_Context(unit, max_doc_bytes), start)
