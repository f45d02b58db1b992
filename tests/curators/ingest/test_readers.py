from __future__ import annotations

import codecs
import gzip
import json
import os
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from curators.config import IngestConfig, SourceSpec
from curators.errors import SourceError
from curators.ingest.plan import plan_units, stdlib_dir
from curators.ingest.readers import read_unit
from curators.ingest.records import Doc, Reject, doc_id, make_record, text_hash
from tests.corpus import hostile_corpus, prose, write_jsonl

MAX = 1024 * 1024


def ingest_all(*specs: SourceSpec, max_bytes: int = MAX) -> list[Doc | Reject]:
    plan = plan_units(IngestConfig(sources=list(specs), max_doc_bytes=max_bytes))
    return [record for unit in plan.units for record in read_unit(unit, max_bytes)]


def reasons(records: list[Doc | Reject]) -> Counter:
    return Counter(str(r.reason) for r in records if isinstance(r, Reject))


def docs(records: list[Doc | Reject]) -> list[Doc]:
    return [r for r in records if isinstance(r, Doc)]


def test_jsonl_fields_ids_and_meta(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    write_jsonl(
        path,
        [
            json.dumps({"doc": "Alpha text.", "key": "k1", "url": "u1", "n": 1}).encode(),
            json.dumps({"doc": "Beta text.", "key": "k2", "url": "u2", "n": 2}).encode(),
        ],
    )
    records = ingest_all(SourceSpec(path=str(path), text_field="doc", id_field="key", meta_fields=["url"], name="web"))
    assert [d.locator for d in docs(records)] == ["k1", "k2"]
    first = records[0]
    assert first.source == "web"
    assert first.id == doc_id("web", "k1")
    assert first.text_hash == text_hash("alpha   TEXT.")  # normalised: case and whitespace
    assert json.loads(first.meta) == {"url": "u1", "_row": "a.jsonl:1"}  # the position stays traceable
    assert first.n_chars == len("Alpha text.")


def test_jsonl_duplicate_id_is_rejected_even_across_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    write_jsonl(path, [json.dumps({"text": f"t{i}", "id": i % 3}).encode() for i in range(6)])
    spec = SourceSpec(path=str(path), id_field="id")
    assert reasons(ingest_all(spec)) == {"duplicate_id": 3}
    unit = plan_units(IngestConfig(sources=[spec])).units[0]
    tail = list(read_unit(unit, MAX, start=4))
    assert [r.reason for r in tail] == ["duplicate_id", "duplicate_id"]


@pytest.mark.parametrize("suffix", [".jsonl.gz", ".jsonl.zst"])
def test_compressed_jsonl(tmp_path: Path, suffix: str) -> None:
    body = b"".join(json.dumps({"text": prose(i)}).encode() + b"\n" for i in range(50))
    data = gzip.compress(body) if suffix.endswith(".gz") else zstandard.ZstdCompressor().compress(body)
    path = tmp_path / f"c{suffix}"
    path.write_bytes(data)
    records = ingest_all(SourceSpec(path=str(path)))
    assert len(docs(records)) == 50 and not reasons(records)


def test_parquet_meta_and_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"content": ["one", None, "three"], "lang": ["en", "en", "fr"]}), path, row_group_size=2)
    records = ingest_all(SourceSpec(path=str(path), text_field="content"))
    assert [d.text for d in docs(records)] == ["one", "three"]
    assert json.loads(docs(records)[1].meta) == {"lang": "fr"}
    assert reasons(records) == {"non_string_text": 1}
    assert docs(records)[1].locator == "t.parquet#2"


def test_parquet_without_the_text_column_is_one_reject(tmp_path: Path) -> None:
    path = tmp_path / "t.parquet"
    pq.write_table(pa.table({"body": ["a", "b"]}), path)
    records = ingest_all(SourceSpec(path=str(path)))
    assert len(records) == 1 and records[0].reason == "missing_text_field"
    assert "body" in records[0].detail


def test_hf_save_to_disk_dataset_and_dict(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    single = datasets.Dataset.from_dict({"text": ["first doc", "second doc"], "label": [0, 1]})
    single.save_to_disk(str(tmp_path / "single"))
    dd = datasets.DatasetDict({"train": single, "test": datasets.Dataset.from_dict({"text": ["held out"]})})
    dd.save_to_disk(str(tmp_path / "dict"))

    records = ingest_all(SourceSpec(path=str(tmp_path / "single")))
    assert [d.text for d in docs(records)] == ["first doc", "second doc"]
    assert json.loads(docs(records)[1].meta) == {"label": 1}

    records = ingest_all(SourceSpec(path=str(tmp_path / "dict")))
    assert sorted(d.text for d in docs(records)) == ["first doc", "held out", "second doc"]
    assert {json.loads(d.meta)["_split"] for d in docs(records)} == {"train", "test"}


def test_folder_of_parquet_and_jsonl_like_load_dataset_reads(tmp_path: Path) -> None:
    folder = tmp_path / "ds" / "data"
    folder.mkdir(parents=True)
    pq.write_table(pa.table({"text": ["p1", "p2"]}), folder / "train-00000.parquet")
    write_jsonl(folder / "extra.jsonl", [b'{"text": "j1"}'])
    records = ingest_all(SourceSpec(path=str(tmp_path / "ds")))
    assert sorted(d.text for d in docs(records)) == ["j1", "p1", "p2"]
    assert {d.locator.split("#")[0].split(":")[0] for d in docs(records)} == {
        "data/train-00000.parquet",
        "data/extra.jsonl",
    }


def test_code_folder_by_extension_with_language_meta(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    (tmp_path / "pkg" / "main.rs").write_text("fn main() {}\n")
    (tmp_path / "pkg" / "README.md").write_text("# readme\n")
    records = ingest_all(SourceSpec(path=str(tmp_path / "pkg"), format="code"))
    assert {json.loads(d.meta)["language"] for d in docs(records)} == {"python", "rust"}
    only_py = ingest_all(SourceSpec(path=str(tmp_path / "pkg"), format="code", extensions=[".py"]))
    assert [d.locator for d in docs(only_py)] == ["mod.py"]


def test_declared_encoding_reads_latin1(tmp_path: Path) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "a.txt").write_bytes("Déjà vu".encode("latin-1"))
    assert reasons(ingest_all(SourceSpec(path=str(tmp_path / "d")))) == {"invalid_utf8": 1}
    records = ingest_all(SourceSpec(path=str(tmp_path / "d"), encoding="latin-1"))
    assert docs(records)[0].text == "Déjà vu"


def test_python_stdlib_is_real_code_without_site_packages() -> None:
    plan = plan_units(IngestConfig(sources=[SourceSpec(path="python-stdlib")], files_per_unit=300))
    paths = [p for u in plan.units for p in u.paths]
    assert len(plan.units) == -(-len(paths) // 300)
    rel = {Path(p).relative_to(stdlib_dir()).as_posix() for p in paths}
    assert "json/decoder.py" in rel and "collections/__init__.py" in rel
    assert not any("site-packages" in p for p in rel)
    first = next(read_unit(plan.units[0], MAX))
    assert first.source == "python-stdlib"


def test_missing_path_and_unknown_format_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="source not found") as exc:
        plan_units(IngestConfig(sources=[SourceSpec(path=str(tmp_path / "nope"))]))
    assert "python-stdlib" in exc.value.hint
    (tmp_path / "data.xyz").write_text("?")
    with pytest.raises(SourceError, match="cannot tell the format") as exc:
        plan_units(IngestConfig(sources=[SourceSpec(path=str(tmp_path / "data.xyz"))]))
    assert "--format" in exc.value.hint


def test_make_record_rules() -> None:
    def reason(value: str | bytes, max_bytes: int = 100) -> str:
        record = make_record("s", "l", value, {}, max_bytes)
        return "doc" if isinstance(record, Doc) else str(record.reason)

    assert reason("fine") == "doc"
    assert reason(b"fine") == "doc"
    assert reason("x" * 101) == "too_large"
    assert reason("é" * 51) == "too_large"  # bytes, not characters
    assert reason("hi".encode("utf-16")) == "doc"  # NUL bytes after a UTF-16 BOM are text
    assert reason(b"a\x00b") == "binary"
    assert reason("\ud800") == "invalid_unicode"
    assert reason(b"\xc3\x28") == "invalid_utf8"
    assert reason(" \n ") == "empty"


def test_every_reader_resumes_exactly_where_it_stopped(tmp_path: Path) -> None:
    """For each unit of the hostile corpus: reading from record k gives the records after k."""
    planted = hostile_corpus(tmp_path / "corpus")
    plan = plan_units(IngestConfig(sources=[SourceSpec(path=str(planted.root))], files_per_unit=4, max_doc_bytes=MAX))
    for unit in plan.units:
        full = list(read_unit(unit, MAX))
        for k in {0, 1, len(full) // 2, len(full) - 1, len(full)}:
            tail = list(read_unit(unit, MAX, start=k))
            assert [(r.locator, type(r).__name__) for r in tail] == [(r.locator, type(r).__name__) for r in full[k:]], (
                unit.paths,
                k,
            )


def test_hostile_corpus_every_record_is_a_doc_or_a_reject(tmp_path: Path) -> None:
    planted = hostile_corpus(tmp_path / "corpus")
    plan = plan_units(IngestConfig(sources=[SourceSpec(path=str(planted.root))], max_doc_bytes=MAX))
    records = [r for unit in plan.units for r in read_unit(unit, MAX)]
    assert len(docs(records)) == planted.good
    assert reasons(records) == planted.rejects
    assert dict(plan.skipped) == dict(planted.not_read)
    for reject in records:
        if isinstance(reject, Reject):
            assert reject.detail and reject.locator
            assert len(reject.excerpt) <= 200


def read_folder(folder: Path, **spec: object) -> list:
    plan = plan_units(IngestConfig(sources=[SourceSpec(path=str(folder), **spec)], max_doc_bytes=MAX))
    return [r for unit in plan.units for r in read_unit(unit, MAX)]


def test_a_file_name_that_is_not_utf8_is_read_under_a_stable_printable_locator(tmp_path: Path) -> None:
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / os.fsdecode(b"caf\xe9.txt")).write_text("A note in a file named in Latin-1.")
    (folder / os.fsdecode(b"\xff\xfe-odd.md")).write_text("Another one, with bytes that decode as nothing.")
    (folder / "plain.txt").write_text("A plain neighbour.")
    first = read_folder(folder)
    assert sorted(r.locator for r in docs(first)) == ["\\xff\\xfe-odd.md", "caf\\xe9.txt", "plain.txt"]
    assert not reasons(first)
    again = read_folder(folder)  # the same ids on every read
    assert sorted(r.id for r in docs(again)) == sorted(r.id for r in docs(first))
    assert all(json.loads(r.meta)["path"] == r.locator for r in docs(first))


def test_an_error_reading_one_file_is_one_reject_and_its_neighbours_are_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import curators.ingest.readers as readers

    folder = tmp_path / "notes"
    folder.mkdir()
    for name in ("a.txt", "b.txt", "c.txt"):
        (folder / name).write_text(f"The text of {name}.")
    real = readers.make_record

    def fails_on_b(source: str, locator: str, *args: object, **kwargs: object) -> object:
        if locator == "b.txt":
            raise RuntimeError("a reader bug met on b.txt")
        return real(source, locator, *args, **kwargs)

    monkeypatch.setattr(readers, "make_record", fails_on_b)
    records = read_folder(folder)
    assert [r.locator for r in docs(records)] == ["a.txt", "c.txt"]
    (bad,) = [r for r in records if isinstance(r, Reject)]
    assert bad.locator == "b.txt" and bad.reason == "unreadable" and "a reader bug met on b.txt" in bad.detail


def test_a_reader_that_fails_mid_file_ends_that_file_with_one_reject(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import curators.ingest.readers as readers

    path = tmp_path / "rows.jsonl"
    write_jsonl(path, [json.dumps({"text": f"row {i}"}).encode() for i in range(5)])
    real = readers._Context.from_row

    def fails_on_row_3(self: object, row: dict, locator: str) -> object:
        if row["text"] == "row 3":
            raise KeyError("unexpected")
        return real(self, row, locator)

    monkeypatch.setattr(readers._Context, "from_row", fails_on_row_3)
    unit = plan_units(IngestConfig(sources=[SourceSpec(path=str(path))])).units[0]
    records = list(read_unit(unit, MAX))
    assert [r.text for r in docs(records)] == ["row 0", "row 1", "row 2"]
    assert records[-1].reason == "unreadable" and records[-1].locator == "rows.jsonl#3"
    # Resuming after the failure point meets it again at the same record: the same single reject.
    assert [(r.locator, r.reason) for r in read_unit(unit, MAX, start=3)] == [("rows.jsonl#3", "unreadable")]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.jsonl", b'{"text": "first"}\n{"text": "second"}\n'),
        ("a.csv", b"text,n\nfirst,1\nsecond,2\n"),
        ("a.tsv", b"text\tn\nfirst\t1\nsecond\t2\n"),
        ("a.txt", b"first"),
    ],
)
def test_a_byte_order_mark_is_stripped_in_every_format(tmp_path: Path, name: str, content: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(codecs.BOM_UTF8 + content)
    source = tmp_path if name.endswith(".txt") else path
    records = [
        r
        for unit in plan_units(IngestConfig(sources=[SourceSpec(path=str(source))])).units
        for r in read_unit(unit, MAX)
    ]
    assert not reasons(records), [r.detail for r in records if isinstance(r, Reject)]
    assert [r.text for r in docs(records)][:2] == (["first"] if name.endswith(".txt") else ["first", "second"])
    assert all("\ufeff" not in r.text and "\ufeff" not in r.meta for r in docs(records))


def test_a_json_document_is_an_array_of_records_or_one_reject_saying_what_it_is(tmp_path: Path) -> None:
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"text": "one", "id": 1}, "two", {"text": "three", "id": 3}], indent=4))
    unit = plan_units(IngestConfig(sources=[SourceSpec(path=str(array))])).units[0]
    records = list(read_unit(unit, MAX))
    assert [(r.locator, type(r).__name__) for r in records] == [
        ("array.json#0", "Doc"),
        ("array.json#1", "Reject"),
        ("array.json#2", "Doc"),
    ]
    assert records[1].reason == "malformed_json" and "a JSON string in the array" in records[1].detail
    assert json.loads(records[2].meta) == {"id": 3}
    assert [r.locator for r in read_unit(unit, MAX, start=2)] == ["array.json#2"]  # resumes by element
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({"rows": [{"text": "x"}], "version": 2}, indent=2))
    (reject,) = read_unit(plan_units(IngestConfig(sources=[SourceSpec(path=str(path))])).units[0], MAX)
    assert reject.reason == "malformed_file" and reject.locator == "doc.json"
    assert "one JSON object (keys: rows, version), not records" in reject.detail


def test_links_are_followed_once_and_every_file_not_read_is_a_reject_with_why(tmp_path: Path) -> None:
    folder = tmp_path / "tree"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("File a, read once.")
    (folder / "sub" / "b.txt").write_text("File b, read once.")
    (folder / "sub" / "picture.png").write_bytes(b"\x89PNG")
    os.symlink(folder, folder / "sub" / "up")  # a loop back to the top
    os.symlink(folder / "sub", folder / "sub-again")  # a second path to a folder already read
    os.symlink(folder / "a.txt", folder / "sub" / "z-link-to-a.txt")  # a second path to a file
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "c.txt").write_text("File c, reached through a link to a folder outside.")
    os.symlink(outside, folder / "linked")
    records = read_folder(folder)
    assert sorted(r.locator for r in docs(records)) == ["a.txt", "linked/c.txt", "sub/b.txt"]
    rejects = {r.locator: r for r in records if isinstance(r, Reject)}
    assert {loc: r.reason for loc, r in rejects.items()} == dict.fromkeys(
        ["sub-again", "sub/picture.png", "sub/up", "sub/z-link-to-a.txt"], "not_read"
    )
    assert "link loop" in rejects["sub/up"].detail and "another path" in rejects["sub/z-link-to-a.txt"].detail
    assert "a .png file" in rejects["sub/picture.png"].detail
