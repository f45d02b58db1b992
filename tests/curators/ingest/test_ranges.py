"""A large JSON Lines file read as several units (byte ranges): the same records, locators and ids as the whole
file, whatever the split; each range resumes on its own; files whose records depend on each other stay whole."""

from __future__ import annotations

import codecs
import gzip
import hashlib
import json
import os
from pathlib import Path

import pytest

from curators.config import IngestConfig, SourceSpec
from curators.ingest.plan import InputUnit, plan_units
from curators.ingest.ranges import FIRST_LINE_BYTES, line_ranges
from curators.ingest.readers import read_unit
from curators.ingest.store import ingest_unit
from tests.corpus import prose
from warehouse.catalog import query, refresh_views
from warehouse.shards import run_dir

MAX = 4096


def awkward_jsonl(path: Path) -> bytes:
    """JSON Lines with what a split must not disturb: a byte-order mark, blank and whitespace lines, an
    over-long line, bad lines, long and short documents, non-ASCII text, no newline at the end."""
    lines = [codecs.BOM_UTF8 + json.dumps({"text": "first, after a BOM"}).encode()]
    for i in range(300):
        if i % 37 == 0:
            lines.append(b"")
        if i % 53 == 0:
            lines.append(b"  \t ")
        if i % 61 == 0:
            lines.append(b'{"text": "broken')
        if i % 71 == 0:
            lines.append(json.dumps({"text": "x" * (3 * MAX)}).encode())  # too_large
        if i % 29 == 0:
            lines.append(b"[1, 2]")
        text = prose(i, 5 + (i * 7) % 90) + (" café ☕" if i % 5 == 0 else "")
        lines.append(json.dumps({"text": text, "url": f"u{i}", "n": i}, ensure_ascii=i % 2 == 0).encode())
    data = b"\n".join(lines)  # the last line has no newline
    path.write_bytes(data)
    return data


def records_of(units: list[InputUnit]) -> list[tuple]:
    out = []
    for unit in units:
        for r in read_unit(unit, MAX):
            out.append(tuple(getattr(r, k, None) for k in ("locator", "id", "text_hash", "meta", "reason", "detail")))
    return out


def config_for(path: Path, split_bytes: int, **spec: object) -> IngestConfig:
    return IngestConfig(sources=[SourceSpec(path=str(path), **spec)], split_bytes=split_bytes, max_doc_bytes=MAX)


def test_a_split_file_gives_the_records_ids_and_rejects_of_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    data = awkward_jsonl(path)
    whole = plan_units(config_for(path, 1 << 30)).units
    assert len(whole) == 1 and whole[0].byte_range is None
    expected = records_of(whole)
    assert {r[4] for r in expected} == {None, "malformed_json", "too_large"}
    for split_bytes in (len(data) // 2, 5000, 777, 64):
        units = plan_units(config_for(path, split_bytes)).units
        assert len(units) > 1
        assert [u.index for u in units] == list(range(len(units)))
        ranges = [u.byte_range for u in units]
        assert ranges[0][0] == 0 and ranges[-1][1] == len(data)
        for (_, end), (start, _) in zip(ranges, ranges[1:], strict=False):
            assert end == start and data[start - 1 : start] == b"\n"  # contiguous, each from a line start
        for unit in units:
            assert unit.first_line == data[: unit.byte_range[0]].count(b"\n")
            assert unit.n_bytes == unit.byte_range[1] - unit.byte_range[0]
        assert records_of(units) == expected, split_bytes


def test_line_ranges_merge_where_a_line_is_longer_than_a_range(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "a"}\n' + b'{"text": "' + b"y" * 5000 + b'"}\n' + b'{"text": "b"}\n')
    ranges = line_ranges(str(path), 8)
    assert ranges == [(0, 14 + 5013, 0), (14 + 5013, 14 + 5013 + 14, 2)]  # 8 asked, the long line in one


def test_files_whose_records_depend_on_each_other_are_read_whole(tmp_path: Path) -> None:
    lines = b"".join(json.dumps({"text": prose(i), "id": i % 50}).encode() + b"\n" for i in range(200))
    plain = tmp_path / "ids.jsonl"
    plain.write_bytes(lines)
    assert len(plan_units(config_for(plain, 100, id_field="id")).units) == 1  # duplicates: the whole file
    assert len(plan_units(config_for(plain, 100)).units) > 1
    packed = tmp_path / "c.jsonl.gz"
    packed.write_bytes(gzip.compress(lines))
    assert len(plan_units(config_for(packed, 100)).units) == 1  # a compressed stream cannot be entered mid-way
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"text": prose(i)} for i in range(100)], indent=2))
    assert len(plan_units(config_for(array, 100)).units) == 1  # one JSON document
    long_first = tmp_path / "long.jsonl"
    long_first.write_bytes(json.dumps({"text": "z" * FIRST_LINE_BYTES}).encode() + b"\n" + lines)
    assert len(plan_units(config_for(long_first, 100)).units) == 1  # the first line may open a document


def test_a_whole_file_keeps_the_fingerprint_it_had_before_ranges(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(b'{"text": "a"}\n')
    (unit,) = plan_units(config_for(path, 1 << 30)).units
    spec = unit.spec.model_dump(mode="json", exclude={"profile", "languages"})
    reading = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
    before = hashlib.sha256(f"jsonl\x00{reading}\x00[]".encode())
    st = os.stat(path)
    before.update(os.fsencode(str(path)) + f"\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
    assert unit.fingerprint() == before.hexdigest()[:16]  # a resumed warehouse redoes none of its files


def test_each_range_resumes_on_its_own_and_the_rows_are_those_of_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    awkward_jsonl(path)
    root, whole_root = tmp_path / "w", tmp_path / "whole"
    config = config_for(path, 3000).model_copy(update={"shard_rows": 2})
    units = plan_units(config).units
    assert len(units) >= 4
    first = [ingest_unit(u, root, "r", config) for u in units]
    # A kill of unit 2 before its last checkpoints were marked: those markers are gone.
    markers = sorted(p for p in run_dir(root, "docs", "r").glob("part-00002-*.parquet.done"))
    assert len(markers) >= 3
    for marker in markers[-2:]:
        marker.unlink()  # the shard stays, unmarked: never read, and written again
    again = [ingest_unit(u, root, "r", config) for u in units]
    assert [r.skipped for r in again] == [u.index != 2 for u in units]
    assert 0 < again[2].resumed_at < first[2].seen == again[2].seen
    whole_config = config.model_copy(update={"split_bytes": 1 << 30})
    for unit in plan_units(whole_config).units:
        ingest_unit(unit, whole_root, "r", whole_config)
    sql = "SELECT id, locator, text_hash, meta FROM docs_all ORDER BY id"
    refresh_views(root)
    refresh_views(whole_root)
    assert query(root, sql)[1] == query(whole_root, sql)[1]
    sql = "SELECT locator, reason, detail FROM rejects_all ORDER BY ALL"
    assert query(root, sql)[1] == query(whole_root, sql)[1]


def test_a_file_changed_after_planning_is_one_reject_not_a_misread(tmp_path: Path) -> None:
    path = tmp_path / "big.jsonl"
    awkward_jsonl(path)
    units = plan_units(config_for(path, 5000)).units
    path.write_bytes(b"#" + path.read_bytes())  # every line start moves by one byte
    (reject,) = list(read_unit(units[1], MAX))
    assert reject.reason == "unreadable" and "changed since it was planned" in reject.detail
    assert list(read_unit(units[1], MAX, start=1)) == []


@pytest.mark.parametrize("split_bytes", [1 << 30, 2000])
def test_blank_and_bom_only_files_are_no_records(tmp_path: Path, split_bytes: int) -> None:
    path = tmp_path / "blank.jsonl"
    path.write_bytes(codecs.BOM_UTF8 + b"\n\n   \n" * 500)
    units = plan_units(config_for(path, split_bytes)).units
    assert [r for u in units for r in read_unit(u, MAX)] == []
