"""The fast paths of ingest (issue 16) give exactly what the straightforward code gave: the same ids, text hashes,
meta and rejects with their reasons. References here are the definitions, written plainly (as the code was)."""

from __future__ import annotations

import hashlib
import json
import random
import unicodedata
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from curators.config import IngestConfig, SourceSpec
from curators.ingest import records
from curators.ingest.jsonl import parse_line
from curators.ingest.plan import plan_units, stdlib_dir
from curators.ingest.readers import read_unit
from curators.ingest.records import Doc, Reject, _json_meta, text_hash, text_hashes
from curators.ingest.store import ingest_unit
from tests.corpus import hostile_corpus
from warehouse.shards import done_shards

MAX = 1024 * 1024

# sha256 over the sorted (kind, locator, id, text_hash, reason) of every record of the hostile corpus read as source
# "hostile" (the cut gzip stream left out: what survives the cut depends on the zlib build), computed with the
# implementation before issue 16 (per-record json.loads, str.split normalisation, rows added one at a time).
BEFORE_ISSUE_16 = "e46e2849d1be466d9f0227a3497e58d41f22670272b8d7f5fb42af1a71b24584"


def reference_id(source: str, locator: str) -> str:
    return hashlib.sha256(f"{source}\x00{locator}".encode()).hexdigest()


def reference_hash(text: str) -> str:
    return hashlib.sha256(" ".join(unicodedata.normalize("NFC", text).lower().split()).encode("utf-8")).hexdigest()


def stdlib_texts(n: int) -> list[str]:
    """Real code and prose: the first `n` standard-library sources of some size (with their non-ASCII files)."""
    texts = []
    for path in sorted(stdlib_dir().glob("*.py")):
        text = path.read_text(encoding="utf-8", errors="replace")
        if len(text) > 2000:
            texts.append(text)
    return texts[:n] + [t for t in texts if not t.isascii()][:10]


def digest(rows: list[tuple[str, str, str, str, str]]) -> str:
    kept = sorted(r for r in rows if not r[1].startswith("cut.jsonl.gz"))
    return hashlib.sha256(repr(kept).encode()).hexdigest()


def read_rows(record: Doc | Reject) -> tuple[str, str, str, str, str]:
    if isinstance(record, Doc):
        return ("Doc", record.locator, record.id, record.text_hash, "")
    return ("Reject", record.locator, "", "", str(record.reason))


def test_hostile_corpus_ids_hashes_and_rejects_are_those_before_the_fast_paths(tmp_path: Path) -> None:
    planted = hostile_corpus(tmp_path / "corpus")
    config = IngestConfig(
        sources=[SourceSpec(path=str(planted.root), name="hostile")], files_per_unit=4, max_doc_bytes=MAX
    )
    units = plan_units(config).units
    records_read = [r for unit in units for r in read_unit(unit, MAX)]
    assert digest([read_rows(r) for r in records_read]) == BEFORE_ISSUE_16
    for doc in records_read:
        if isinstance(doc, Doc):
            assert doc.id == reference_id("hostile", doc.locator)
            assert doc.text_hash == reference_hash(doc.text)
            assert doc.meta == json.dumps(json.loads(doc.meta), ensure_ascii=False, sort_keys=True)

    # What ingest writes (hashes computed a batch at a time, columns built at once) is what reading gives.
    root = tmp_path / "warehouse"
    for unit in units:
        ingest_unit(unit, root, "r", config)
    docs = [row for shard, _ in done_shards(root, "docs") for row in pq.read_table(shard).to_pylist()]
    rejects = [row for shard, _ in done_shards(root, "rejects") for row in pq.read_table(shard).to_pylist()]
    written = [("Doc", d["locator"], d["id"], d["text_hash"], "") for d in docs]
    written += [("Reject", r["locator"], "", "", r["reason"]) for r in rejects]
    assert sorted(written) == sorted(read_rows(r) for r in records_read)
    by_locator = {r.locator: r for r in records_read}
    for row in docs:
        d = by_locator[row["locator"]]
        assert [row[k] for k in ("text", "meta", "n_chars", "n_bytes")] == [d.text, d.meta, d.n_chars, d.n_bytes]
    for row in rejects:
        reject = by_locator[row["locator"]]
        assert (row["detail"], row["excerpt"], row["n_bytes"]) == (reject.detail, reject.excerpt, reject.n_bytes)


TRICKY = [
    "",
    " ",
    "A",
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f ",  # every ASCII space of str.split, \x1c-\x1f included
    "\x00",
    "\x7f",
    "\x85",
    "\xa0",
    "\u1680",
    "\u2000",
    "\u200a",
    "\u200b",  # a zero-width space is not a space to str.split
    "\u2028",
    "\u202f",
    "\u205f",
    "\u3000",
    "\ufeff",
    "İ",
    "ΣΑΣ",
    "ß",
    "ǅ",
    "ﬃ",
    "K",  # Kelvin sign: lower case is an ASCII k
    "e\u0301",  # composed by NFC
    "\u2126",  # Ohm sign: NFC makes it Omega
    "😀",
    "Word",
    "ABC xyz",
    "é",
]


def test_text_hashes_is_text_hash_on_tricky_and_random_text(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(16)
    texts = list(TRICKY)
    texts += ["".join(rng.choice(TRICKY) for _ in range(rng.randrange(0, 12))) for _ in range(3000)]
    texts += ["  ".join(rng.choice(TRICKY[17:]) for _ in range(rng.randrange(1, 8))) + " \n" for _ in range(500)]
    texts += stdlib_texts(40)
    for chunk in (records.HASH_CHUNK_BYTES, 1, 64):  # many texts a batch; one each; batches cut mid-list
        monkeypatch.setattr(records, "HASH_CHUNK_BYTES", chunk)
        assert text_hashes(texts) == [reference_hash(t) for t in texts]
        assert text_hashes(texts) == [text_hash(t) for t in texts]
    assert text_hashes([]) == []
    with pytest.raises(UnicodeEncodeError):  # a lone surrogate fails as it did
        text_hashes(["fine", "lone \ud800 surrogate"])


def test_a_json_line_parses_as_json_loads_parses_it() -> None:
    lines = [
        b'{"text": "plain", "n": 1, "f": 1.5, "t": true, "z": null, "l": [1, {"a": 2.0}]}',
        b'{"a": 1, "b": 2, "a": 3}',  # a repeated key: the last value, at the first place
        b'{"big": 123456789012345678901234567890}',  # orjson would read it as a float
        b'{"neg": -9223372036854775809, "u64": 18446744073709551615}',
        b'{"x": 1e400}',
        b'{"x": NaN, "y": -Infinity}',
        b'\xef\xbb\xbf{"bom": 1}',
        b'{"t": "lone \\ud800"}',
        b'{"t": "pair \\ud83d\\ude00"}',
        b'{"t": "caf\xe9"}',  # not UTF-8
        b'{"t": "tab\tinside"}',  # a raw control character
        b'{"t": "unterminated',
        b"[1, 2]",
        b'"a string"',
        b"  {}  \r\n",
        b"[" * 300 + b"]" * 300,  # deeper than orjson is trusted with here
        b'{"d": ' + b"[" * 100 + b"1.0" + b"]" * 100 + b"}",
        b'{"s": "\\u0000nul"}',
    ]

    def outcome(parse: object, line: bytes) -> tuple[str, str]:
        try:
            return "value", repr(parse(line))  # type: ignore[operator]
        except Exception as exc:  # noqa: BLE001 - the kind and message of the error are what is compared
            return type(exc).__name__, str(exc)

    for line in lines:
        assert outcome(parse_line, line) == outcome(json.loads, line), line


def test_meta_is_written_as_json_dumps_wrote_it() -> None:
    metas: list[dict] = [
        {},
        {"url": "https://example.org/1", "dump": "CC-MAIN"},
        {"b": "x", "a": 'quote " backslash \\ newline \n control \x01 del \x7f é 😀 \u2028'},
        {"n": 1, "f": 2.5, "big": 10**30, "t": True, "none": None, "list": [1, "a"], "obj": {"z": 1, "a": 2}},
        {"s": "lone \ud800 surrogate"},  # written with escapes (ensure_ascii) as before
        {"path": Path("a/b")},  # default=str
    ]
    for meta in metas:
        try:
            expected = json.dumps(meta, ensure_ascii=False, default=str, sort_keys=True)
            expected.encode("utf-8")
        except UnicodeEncodeError:
            expected = json.dumps(meta, ensure_ascii=True, default=str, sort_keys=True)
        assert _json_meta(meta) == expected
