"""Records: what one input record becomes, a `Doc` or a `Reject`, and how a bad one is described.

Every input record becomes exactly one `Doc` or one `Reject`, so `seen = ingested + rejected` holds
by construction.

Decisions about bad input (each a `RejectReason`):
- Invalid UTF-8 is rejected, not decoded with replacement characters: U+FFFD in training text is
  noise a model learns, and a kept-but-flagged document would reach every later stage. The reject
  keeps the locator and an excerpt, and a source in another encoding is one setting away
  (`encoding:` in its source spec). Byte-order marks (UTF-8, UTF-16) are honoured.
- NUL bytes mean binary: rejected. Empty or whitespace-only text: rejected. Text over
  `max_doc_bytes` (UTF-8 bytes): rejected before it is decoded or parsed, with bounded memory.

Text identity: `doc_id` names a document by where it came from (source + locator), so re-ingesting
the same input gives the same id. `text_hash` names it by what it says, after a light normalisation
(Unicode NFC, lower case, whitespace collapsed), so exact duplicates share a hash whatever their source.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import os
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

EXCERPT_CHARS = 200


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
    UNREADABLE = "unreadable"  # I/O error, permission denied, file vanished, an error reading the file
    NOT_READ = "not_read"  # a file of a folder source that the source does not read (its extension...)


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


def doc_id(source: str, locator: str) -> str:
    """Stable id of a document: sha256 of its source and its locator within that source."""
    return hashlib.sha256(f"{source}\x00{locator}".encode()).hexdigest()


def normalize_text(text: str) -> str:
    """The normalisation behind `text_hash`: NFC, lower case, runs of whitespace to one space."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def text_hash(text: str) -> str:
    """sha256 (hex) of the normalised text."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()


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


def printable_path(path: str | Path) -> str:
    """A path as printable, stable text: a file name may hold bytes that are not UTF-8 (Linux allows any
    but / and NUL); Python keeps them as surrogate escapes, which cannot be written to Parquet or hashed.
    Each such byte becomes the four characters `\\xNN` (so `caf\\xe9.txt` names the Latin-1 `café.txt`)."""
    return os.fsencode(str(path)).decode("utf-8", errors="backslashreplace")


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
