"""Byte streams of input files: plain, gzip or zstandard, and their lines read in bounded memory."""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from typing import IO, TypeVar

from curators.ingest.records import EXCERPT_CHARS

T = TypeVar("T")


def skip(items: Iterator[T], start: int) -> Iterator[T]:
    """`items` after the first `start` (a reader resuming from its last checkpoint)."""
    for i, item in enumerate(items):
        if i >= start:
            yield item


def open_binary(path: str) -> IO[bytes]:
    lower = path.lower()
    if lower.endswith(".gz"):
        return gzip.open(path, "rb")
    if lower.endswith(".zst"):
        import zstandard

        return io.BufferedReader(zstandard.open(path, "rb"))  # its own reader has no readline(limit)
    return open(path, "rb", buffering=1 << 20)


def iter_lines(stream: IO[bytes], limit: int) -> Iterator[tuple[bytes, int]]:
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
