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
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np

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


# `text_hashes` is `[text_hash(t) for t in texts]`, vectorised (hand-written for speed: the word list that
# `str.split` builds was the largest cost of ingest). It collapses whitespace on bytes with numpy instead:
# - `str.split()` splits on these ten ASCII characters (`str.isspace`), and on the Unicode spaces of
#   `_WIDE_SPACE`; a text holding one of those (after NFC and lower case) takes the reference path.
# - On ASCII text NFC changes nothing and `str.lower` maps A-Z only: one `bytes.translate` lowers it and turns
#   every space into b" "; a non-ASCII text is lowered by Python first (str.lower never makes A-Z).
# - Texts are joined with NUL (a text holding NUL takes the reference path); a space is kept when the byte
#   before it is not one; each text is then split out at the NULs and stripped of one space at each end.
# tests/curators/ingest/test_fast_paths.py checks it against `text_hash` on hostile and random text.
_ASCII_SPACE = b"\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f"
_FOLD = bytes.maketrans(bytes(range(65, 91)) + _ASCII_SPACE, bytes(range(97, 123)) + b" " * len(_ASCII_SPACE))
_WIDE_SPACE = re.compile("[" + "".join(c for c in map(chr, range(128, 0x3001)) if c.isspace()) + "]")
HASH_CHUNK_BYTES = 512 * 1024  # text collapsed per numpy pass: its arrays stay in the CPU's cache


def _collapsed(joined: bytes) -> list[bytes]:
    """The NUL-separated texts of `joined` (UTF-8, lowered by Python if not ASCII), lowered, every run of spaces
    made one space and stripped."""
    x = np.frombuffer(joined.translate(_FOLD), np.uint8)
    solid = x != 32
    keep = np.empty_like(solid)  # a byte is kept unless it is a space after a space
    keep[:1] = solid[:1]
    np.logical_or(solid[1:], solid[:-1], out=keep[1:])
    return [piece.strip(b" ") for piece in x[keep].tobytes().split(b"\x00")]


def _groups(items: list[tuple[int, Any]]) -> Iterator[list[tuple[int, Any]]]:
    """`items` (index, text) in consecutive groups of about HASH_CHUNK_BYTES of text."""
    group: list[tuple[int, Any]] = []
    size = 0
    for item in items:
        group.append(item)
        size += len(item[1])
        if size >= HASH_CHUNK_BYTES:
            yield group
            group, size = [], 0
    if group:
        yield group


def text_hashes(texts: Sequence[str]) -> list[str]:
    """`text_hash` of each text, in order: the same values, computed a batch at a time."""
    hashes = [""] * len(texts)
    ascii_texts: list[tuple[int, Any]] = []
    other: list[tuple[int, Any]] = []
    for i, text in enumerate(texts):
        if text.isascii():
            ascii_texts.append((i, text))
            continue
        lowered = unicodedata.normalize("NFC", text).lower()
        if "\x00" in text or _WIDE_SPACE.search(lowered):
            hashes[i] = text_hash(text)
            continue
        try:
            other.append((i, lowered.encode("utf-8")))
        except UnicodeEncodeError:  # a lone surrogate: the reference path says what is wrong
            hashes[i] = text_hash(text)
    sha256 = hashlib.sha256
    for group in _groups(ascii_texts):  # joined as one str, then bytes: no bytes object per text
        pieces = _collapsed("\x00".join([text for _, text in group]).encode("ascii"))
        if len(pieces) == len(group):
            for (i, _), piece in zip(group, pieces, strict=True):
                hashes[i] = sha256(piece).hexdigest()
        else:  # a text holds NUL: the reference path for this group
            for i, text in group:
                hashes[i] = text_hash(text)
    for group in _groups(other):
        pieces = _collapsed(b"\x00".join([data for _, data in group]))
        for (i, _), piece in zip(group, pieces, strict=True):
            hashes[i] = sha256(piece).hexdigest()
    return hashes


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


# json.dumps(meta, ensure_ascii=..., default=str, sort_keys=True), without building an encoder per row; and
# for the common meta of string keys and values, its output written directly: sorted items, each string
# escaped by the function json.dumps(ensure_ascii=False) uses, joined by its separators.
_META_JSON = json.JSONEncoder(ensure_ascii=False, default=str, sort_keys=True).encode
_META_JSON_ASCII = json.JSONEncoder(ensure_ascii=True, default=str, sort_keys=True).encode
_JSON_STRING = json.encoder.encode_basestring


def _strings_json(meta: dict[str, Any]) -> str | None:
    """`_META_JSON(meta)` when every key and value is a string, else None."""
    parts = []
    for key, value in sorted(meta.items()):
        if type(value) is not str or type(key) is not str:
            return None
        parts.append(f"{_JSON_STRING(key)}: {_JSON_STRING(value)}")
    return "{" + ", ".join(parts) + "}"


def _json_meta(meta: dict[str, Any]) -> str:
    if not meta:
        return "{}"
    try:
        text = _strings_json(meta) or _META_JSON(meta)
        if not text.isascii():
            text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return _META_JSON_ASCII(meta)


def make_record(
    source: str,
    locator: str,
    value: str | bytes,
    meta: dict[str, Any],
    max_bytes: int,
    encoding: str = "utf-8",
    lang: str | None = None,
    hash_text: bool = True,
) -> Record:
    """Check one document's text (bytes from a file, or a str from a table) and make its row. Without
    `hash_text` the Doc's `text_hash` is left empty, for the caller to fill with `text_hashes` (in batches)."""
    if (
        type(value) is str
        and value.isascii()  # (O(1) in CPython) one byte a character, so no surrogates
        and 0 < len(value) <= max_bytes
        and "\x00" not in value
        and not value.isspace()
    ):  # the common case, passing every check below: its Doc at once
        return Doc(
            doc_id(source, locator),
            source,
            locator,
            value,
            text_hash(value) if hash_text else "",
            len(value),
            len(value),
            lang,
            _json_meta(meta),
        )

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
        text_hash=text_hash(text) if hash_text else "",
        n_chars=len(text),
        n_bytes=n_bytes,
        lang=lang,
        meta=_json_meta(meta),
    )
