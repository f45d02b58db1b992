"""The JSON Lines reader (`.jsonl`, `.ndjson`, `.json`; gzip or zstandard): one record per non-blank line,
located `file:line`; a whole file, or one byte range of a large file (`curators.ingest.ranges`). A `.json`
file that is one JSON array is read element by element (`file#index`); any other single document is one
`malformed_file` reject.
"""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any, Protocol

import orjson

from curators.ingest.config import SourceSpec
from curators.ingest.plan import InputUnit
from curators.ingest.ranges import looks_like_a_document
from curators.ingest.records import EXCERPT_CHARS, Doc, Record, Reject, RejectReason
from curators.ingest.streams import iter_lines, open_binary, skip


class _Context(Protocol):
    """What a reader is given (`curators.ingest.readers._Context`): the unit, and how rows become records."""

    unit: InputUnit
    spec: SourceSpec
    max_bytes: int

    def rel(self, path: str) -> str: ...

    def reject(
        self, locator: str, reason: RejectReason, detail: str, value: Any = None, n_bytes: int | None = None
    ) -> Reject: ...

    def from_row(self, row: dict[str, Any], default_locator: str) -> Record: ...


# A file that is one JSON document (pretty-printed) rather than JSON Lines is loaded whole, up to this size.
DOCUMENT_MAX_BYTES = 256 * 1024 * 1024
NOT_ONE_DOCUMENT = object()
JSON_DEPTH = 256  # deeper values are parsed by json itself (its own recursion limit decides)


def _needs_json(value: Any) -> bool:
    """True when `value` holds a float, or nests deeper than JSON_DEPTH: orjson reads an integer beyond 64 bits
    as a float (json as an int), so a line holding a float is parsed again by json."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        kind = type(item)
        if kind is float or depth > JSON_DEPTH:
            return True
        if kind is dict:
            stack.extend((v, depth + 1) for v in item.values())
        elif kind is list:
            stack.extend((v, depth + 1) for v in item)
    return False


def parse_line(line: bytes) -> Any:
    """`json.loads(line)`: the same value, or the same error. orjson parses (several times faster); json.loads
    reads what orjson refuses (NaN, a byte-order mark, lone surrogates, UTF-16...) so that it is accepted, or
    rejected with json's own message, exactly as before; and any line holding a float (see `_needs_json`)."""
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return json.loads(line)
    if type(value) is dict:
        for item in value.values():
            kind = type(item)
            if kind is float or ((kind is dict or kind is list) and _needs_json(item)):
                return json.loads(line)
        return value
    return json.loads(line) if _needs_json(value) else value


def read_jsonl(ctx: _Context, start: int) -> Iterator[Record]:
    unit = ctx.unit
    path = unit.paths[0]
    rel = ctx.rel(path)
    limit = 2 * ctx.max_bytes + 65536  # a JSON line may escape its text to twice its size
    seen_ids: set[bytes] = set()
    index = 0  # non-blank lines: the records of this unit
    begin, end = unit.byte_range or (0, None)
    lineno = unit.first_line
    pos = begin
    try:
        stream = open_binary(path)
    except OSError as exc:
        if start == 0:
            yield ctx.reject(rel, RejectReason.UNREADABLE, f"{type(exc).__name__}: {exc}")
        return
    with stream:
        try:
            if begin:
                stream.seek(begin - 1)
                if stream.read(1) != b"\n":
                    if start == 0:
                        yield ctx.reject(
                            f"{rel}:{lineno + 1}",
                            RejectReason.UNREADABLE,
                            f"the file changed since it was planned (byte {begin} no longer starts a line): "
                            "rerun to read it again",
                        )
                    return
            for line, size in iter_lines(stream, limit):
                if end is not None and pos >= end:
                    break
                pos += size
                lineno += 1
                if lineno == 1:
                    line = line.removeprefix(codecs.BOM_UTF8)  # a byte-order mark is not part of the JSON
                    if looks_like_a_document(line):
                        document = _load_document(path)
                        if document is not NOT_ONE_DOCUMENT:
                            yield from skip(_document_records(ctx, rel, document), start)
                            return
                if not line or line.isspace():  # (`not line.strip()`, without the copy)
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
                    obj = parse_line(line)
                except UnicodeDecodeError as exc:
                    yield ctx.reject(locator, RejectReason.INVALID_UTF8, f"not valid UTF-8: {exc.reason}", line)
                    continue
                except ValueError as exc:
                    yield ctx.reject(locator, RejectReason.MALFORMED_JSON, f"{exc}", line)
                    continue
                if type(obj) is not dict:
                    yield ctx.reject(
                        locator,
                        RejectReason.MALFORMED_JSON,
                        f"a JSON {type(obj).__name__}, expected an object",
                        line,
                    )
                    continue
                record = ctx.from_row(obj, locator)
                yield _unique(ctx, record, locator, seen_ids) if ctx.spec.id_field else record
        except (OSError, EOFError, ValueError) as exc:  # a truncated or corrupt compressed stream
            index += 1
            if index > start:
                yield ctx.reject(
                    f"{rel}:{lineno + 1}",
                    RejectReason.MALFORMED_FILE,
                    f"stream unreadable after line {lineno}: {type(exc).__name__}: {exc}",
                )


def _unique(ctx: _Context, record: Record, locator: str, seen_ids: set[bytes]) -> Record:
    """`record`, or a duplicate_id reject when its id (from `id_field`) appeared earlier in the file."""
    if isinstance(record, Doc) and ctx.spec.id_field:
        key = bytes.fromhex(record.id)[:16]
        if key in seen_ids:
            return ctx.reject(
                locator, RejectReason.DUPLICATE_ID, f"id {record.locator!r} appears earlier in this file", record.text
            )
        seen_ids.add(key)
    return record


class _TooLarge:
    """A JSON document over DOCUMENT_MAX_BYTES: not loaded."""


def _load_document(path: str) -> Any:
    """The file parsed as one JSON value, `_TooLarge()`, or NOT_ONE_DOCUMENT (then it is read as JSON Lines)."""
    try:
        with open_binary(path) as fh:
            data = fh.read(DOCUMENT_MAX_BYTES + 1)
        if len(data) > DOCUMENT_MAX_BYTES:
            return _TooLarge()
        return json.loads(data.removeprefix(codecs.BOM_UTF8))
    except (OSError, EOFError, ValueError):
        return NOT_ONE_DOCUMENT


def _json_kind(value: Any) -> str:
    kinds = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _document_records(ctx: _Context, rel: str, document: Any) -> Iterator[Record]:
    """An array of objects: one record per element, by the rules of JSON Lines. Any other document is one
    malformed_file reject that says what it is."""
    if isinstance(document, _TooLarge):
        yield ctx.reject(
            rel,
            RejectReason.MALFORMED_FILE,
            f"one JSON document over {DOCUMENT_MAX_BYTES // 2**20} MiB, not JSON Lines: "
            "convert it with `jq -c '.[]'` (one record a line is read in bounded memory)",
        )
        return
    if not isinstance(document, list):
        found = f"one JSON {_json_kind(document)}"
        if isinstance(document, dict):
            found += f" (keys: {', '.join(list(document)[:8])})"
        yield ctx.reject(
            rel,
            RejectReason.MALFORMED_FILE,
            f"{found}, not records: a JSON source holds JSON Lines or an array of objects",
            json.dumps(document, default=str)[:EXCERPT_CHARS],
        )
        return
    seen_ids: set[bytes] = set()
    for index, element in enumerate(document):
        locator = f"{rel}#{index}"
        if not isinstance(element, dict):
            yield ctx.reject(
                locator,
                RejectReason.MALFORMED_JSON,
                f"a JSON {_json_kind(element)} in the array, expected an object",
                json.dumps(element, default=str)[:EXCERPT_CHARS],
            )
            continue
        yield _unique(ctx, ctx.from_row(element, locator), locator, seen_ids)


def _remember_id(ctx: _Context, line: bytes, locator: str, seen_ids: set[bytes]) -> None:
    try:
        obj = json.loads(line)
    except ValueError:
        return
    if isinstance(obj, dict):
        record = ctx.from_row(obj, locator)
        if isinstance(record, Doc):
            seen_ids.add(bytes.fromhex(record.id)[:16])
