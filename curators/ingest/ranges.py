"""Byte ranges of a large JSON Lines file, so that several units read one file at once.

Each range starts at the start of a line and knows how many lines of the file come before it: its records
keep the locators (`file:line`), and so the ids, that reading the whole file gives. Only a plain (not
compressed) JSON Lines file is split, and only when its records are independent of each other: not with
`id_field` (a duplicate id is looked for in the whole file), not when the file is one JSON document.
"""

from __future__ import annotations

import codecs
import functools
import json
import os

SCAN_BYTES = 8 * 1024 * 1024  # read at a time while counting lines
FIRST_LINE_BYTES = 65536  # a longer first line is taken for a document's: such a file is not split


def looks_like_a_document(first_line: bytes) -> bool:
    """An array, or an object whose first line alone is not valid JSON (a pretty-printed document)."""
    head = first_line.lstrip()
    if head.startswith(b"["):
        return True
    if not head.startswith(b"{"):
        return False
    try:
        json.loads(first_line)
    except ValueError:
        return True
    return False


def is_json_lines(path: str) -> bool:
    """False when the file's first line says it may be one JSON document (read whole, never split)."""
    try:
        with open(path, "rb") as fh:
            first = fh.readline(FIRST_LINE_BYTES)
    except OSError:
        return False
    if len(first) == FIRST_LINE_BYTES and not first.endswith(b"\n"):
        return False
    return not looks_like_a_document(first.removeprefix(codecs.BOM_UTF8))


def line_ranges(path: str, parts: int) -> list[tuple[int, int, int]]:
    """`(start, end, lines_before)` for at most `parts` ranges of about equal size covering the file, each
    starting at a line start (a line longer than a range makes fewer ranges). Reads the file up to the last
    range's start, counting its lines (about 1 GB/s): once per process for a file as it is (the CLI plans, then
    its flow plans again)."""
    st = os.stat(path)
    return list(_line_ranges(path, st.st_size, st.st_mtime_ns, parts))


@functools.lru_cache(maxsize=256)
def _line_ranges(path: str, size: int, mtime_ns: int, parts: int) -> tuple[tuple[int, int, int], ...]:
    targets = [size * k // parts for k in range(1, parts)]
    starts: list[tuple[int, int]] = [(0, 0)]
    newlines = 0  # in the file before `pos`
    pos = 0
    with open(path, "rb") as fh:
        while targets:
            chunk = fh.read(SCAN_BYTES)
            if not chunk:
                break
            while targets:
                # The first line start at or after the target: just past the first newline from target - 1.
                at = chunk.find(b"\n", max(targets[0] - 1 - pos, 0))
                if at < 0:
                    break  # the line goes on into the next chunk
                start = pos + at + 1
                if starts[-1][0] < start < size:
                    starts.append((start, newlines + chunk.count(b"\n", 0, at + 1)))
                while targets and targets[0] <= start:
                    targets.pop(0)
            newlines += chunk.count(b"\n")
            pos += len(chunk)
    ends = [s for s, _ in starts[1:]] + [size]
    return tuple((s, e, lines) for (s, lines), e in zip(starts, ends, strict=True))
