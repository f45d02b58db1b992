"""Builders of small (and hostile) corpora for tests. Each returns what it planted, so tests can
check counts against the construction rather than against a recorded output."""

from __future__ import annotations

import codecs
import gzip
import json
import os
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

BIG_DOC_BYTES = 50 * 1024 * 1024


def prose(i: int, words: int = 40) -> str:
    vocab = [
        "photosynthesis",
        "converts",
        "light",
        "energy",
        "into",
        "chemical",
        "energy",
        "stored",
        "in",
        "glucose",
        "molecules",
        "which",
        "plants",
        "use",
        "to",
        "grow",
        "and",
        "reproduce",
        "every",
        "day",
    ]
    return f"Lesson {i}. " + " ".join(vocab[(i + k) % len(vocab)] for k in range(words)) + "."


@dataclass
class Planted:
    """What a corpus holds: documents that must be ingested and rejects expected by reason."""

    root: Path
    good: int = 0
    rejects: Counter = field(default_factory=Counter)
    not_read: Counter = field(default_factory=Counter)  # files a folder source does not read

    @property
    def seen(self) -> int:
        return self.good + sum(self.rejects.values())


def write_jsonl(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def hostile_corpus(root: Path) -> Planted:
    """A corpus with every kind of bad input ingest must quarantine, beside good documents."""
    root.mkdir(parents=True, exist_ok=True)
    planted = Planted(root=root)

    # --- JSON Lines ---------------------------------------------------------------------------
    lines = [json.dumps({"text": prose(i), "url": f"https://example.org/{i}"}).encode() for i in range(20)]
    planted.good += 20
    lines += [
        b'{"text": "unterminated',  # malformed_json
        b"[1, 2, 3]",  # malformed_json: not an object
        json.dumps({"body": "no text key"}).encode(),  # missing_text_field
        json.dumps({"text": None}).encode(),  # non_string_text
        json.dumps({"text": 42}).encode(),  # non_string_text
        json.dumps({"text": ""}).encode(),  # empty
        json.dumps({"text": " \n\t  "}).encode(),  # empty
        b'{"text": "caf\xe9 au lait"}',  # invalid_utf8 (a Latin-1 byte inside JSON)
        b'{"text": "lone \\ud800 surrogate"}',  # invalid_unicode
        json.dumps({"text": "nul\u0000inside"}).encode(),  # binary
        b"",  # a blank line: not a record
        b"   ",  # a blank line: not a record
        json.dumps({"text": "x" * BIG_DOC_BYTES}).encode(),  # too_large (50 MB)
    ]
    planted.rejects.update(
        {
            "malformed_json": 2,
            "missing_text_field": 1,
            "non_string_text": 2,
            "empty": 2,
            "invalid_utf8": 1,
            "invalid_unicode": 1,
            "binary": 1,
            "too_large": 1,
        }
    )
    write_jsonl(root / "web.jsonl", lines)

    # A gzip stream cut short: its readable lines are documents, the broken tail is one reject.
    full = gzip.compress(b"".join(json.dumps({"text": prose(100 + i)}).encode() + b"\n" for i in range(2000)))
    (root / "cut.jsonl.gz").write_bytes(full[: len(full) // 2])
    with gzip.open(root / "cut.jsonl.gz", "rb") as fh:
        readable = 0
        try:
            for _ in fh:
                readable += 1
        except (EOFError, OSError):
            pass
    planted.good += readable
    planted.rejects["malformed_file"] += 1

    # One pretty-printed JSON document: an array of objects is records (its non-objects rejected), any
    # other document is one reject that says what it is.
    (root / "array.json").write_text(json.dumps([{"text": "first element"}, 7, {"text": "third"}], indent=2))
    planted.good += 2
    planted.rejects["malformed_json"] += 1
    (root / "object.json").write_text(json.dumps({"data": [{"text": "nested"}], "version": 2}, indent=2))
    planted.rejects["malformed_file"] += 1
    # A byte-order mark before the first record, in every line-based format.
    (root / "bom.jsonl").write_bytes(codecs.BOM_UTF8 + b'{"text": "JSON Lines after a byte-order mark."}\n')
    (root / "bom.csv").write_bytes(codecs.BOM_UTF8 + b"text,kind\nA CSV row after a byte-order mark.,csv\n")
    (root / "bom.tsv").write_bytes(codecs.BOM_UTF8 + b"text\tkind\nA TSV row after a byte-order mark.\ttsv\n")
    planted.good += 3

    # --- Parquet --------------------------------------------------------------------------------
    table = pa.table(
        {
            "text": [prose(200 + i) for i in range(8)] + [None, ""],
            "score": list(range(10)),
        }
    )
    pq.write_table(table, root / "table.parquet")
    planted.good += 8
    planted.rejects.update({"non_string_text": 1, "empty": 1})
    intact = (root / "table.parquet").read_bytes()
    (root / "truncated.parquet").write_bytes(intact[: len(intact) // 2])
    planted.rejects["malformed_file"] += 1

    # --- CSV ------------------------------------------------------------------------------------
    (root / "notes.csv").write_bytes(
        b'id,text\n1,"A first, quoted note about fractions."\n2,Second note on decimals.\n'
        b"3,too,many,fields\n4,caf\xe9 (latin-1 byte)\n5,\n"
    )
    planted.good += 2
    planted.rejects.update({"malformed_file": 1, "invalid_utf8": 1, "empty": 1})

    # --- A folder of text files -----------------------------------------------------------------
    docs = root / "docs"
    docs.mkdir()
    for i in range(5):
        (docs / f"lesson{i}.md").write_text(f"# Lesson {i}\n\n{prose(300 + i)}\n", encoding="utf-8")
    (docs / "bom.txt").write_bytes(codecs.BOM_UTF8 + b"Text with a UTF-8 BOM.")
    (docs / "utf16.txt").write_bytes("Texte en UTF-16 avec BOM : élève.".encode("utf-16"))
    planted.good += 7
    (docs / "latin1.txt").write_bytes("Déjà vu, written in Latin-1.".encode("latin-1"))
    (docs / "blob.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(256))
    (docs / "empty.md").write_bytes(b"")
    (docs / "blank.rst").write_text("   \n\n\t\n")
    (docs / "huge.txt").write_bytes(b"word " * (BIG_DOC_BYTES // 5))  # 50 MB
    os.symlink(docs / "missing-target.txt", docs / "dangling.txt")  # unreadable
    # A file name that is not UTF-8 (Linux allows any bytes): read like any other, under a printable locator.
    (docs / os.fsdecode(b"caf\xe9-latin1-name.txt")).write_text("A note whose file name is Latin-1.")
    planted.good += 1
    os.mkfifo(docs / "pipe.txt")  # not a regular file: never opened (reading it would wait forever)
    planted.not_read["(not a regular file)"] += 1
    # Links: a loop back to the folder, and a second path to a file; each real file is read once.
    os.symlink(docs, docs / "loop")
    planted.not_read["(folder already read: a link loop or a second link)"] += 1
    os.symlink(docs / "lesson0.md", docs / "zz-lesson0-again.md")
    planted.not_read["(file already read under another path)"] += 1
    planted.rejects.update({"invalid_utf8": 1, "binary": 1, "empty": 2, "too_large": 1, "unreadable": 1})
    (docs / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    planted.not_read[".png"] += 1
    # Every file a folder source does not read is one reject too: seen = ingested + rejected, file by file.
    planted.rejects["not_read"] += sum(planted.not_read.values())
    return planted
