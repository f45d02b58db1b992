"""Export files: bounded Parquet files in order, an empty config still typed, and a folder replaced whole
only when it is an earlier export."""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from curators.errors import CurateError
from curators.publish.card import size_category
from curators.publish.config import ExportConfig
from curators.publish.export import MARKER, partial_folder, swap_in, write_config

SCHEMA = pa.schema([("id", pa.string()), ("text", pa.string())])


def batches(n: int, size: int = 500) -> list[pa.RecordBatch]:
    rng = random.Random(n)
    words = [f"w{k}" for k in range(5000)]
    rows = [{"id": f"{i:06d}", "text": " ".join(rng.choices(words, k=60))} for i in range(n)]
    return [pa.RecordBatch.from_pylist(rows[k : k + size], schema=SCHEMA) for k in range(0, n, size)]


def test_files_are_bounded_ordered_and_named_for_the_hub(tmp_path: Path) -> None:
    done = write_config(tmp_path, "pretrain", SCHEMA, batches(3000), shard_bytes=1 << 16)
    assert done.rows == 3000 and len(done.files) > 2
    assert done.files[0] == f"pretrain/train-00000-of-{len(done.files):05d}.parquet"
    ids = [i for f in done.files for i in pq.read_table(tmp_path / f).column("id").to_pylist()]
    assert ids == [f"{i:06d}" for i in range(3000)]
    sizes = [(tmp_path / f).stat().st_size for f in done.files]
    assert done.download_size == sum(sizes)
    # A file closes once it reaches the bound: only the rows of one write (a row group) can overshoot it.
    assert max(sizes) < (1 << 16) + 2 * max(b.nbytes for b in batches(3000))
    empty = write_config(tmp_path, "exercises", SCHEMA, [], shard_bytes=1 << 20)
    assert empty.rows == 0 and pq.read_table(tmp_path / empty.files[0]).schema == SCHEMA


def test_a_folder_is_replaced_only_when_it_is_an_earlier_export(tmp_path: Path) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.txt").write_text("do not delete")
    with pytest.raises(CurateError, match="not an export of curate"):
        partial_folder(mine)
    out = tmp_path / "export"
    first = partial_folder(out)
    (first / "a.txt").write_text("1")
    swap_in(first, out)
    second = partial_folder(out)
    (second / "b.txt").write_text("2")
    swap_in(second, out)
    assert sorted(p.name for p in out.iterdir()) == [MARKER, "b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["export", "notes"]  # no partial or old folder left


def test_config_choice_and_size_categories() -> None:
    assert ExportConfig().chosen(["pretrain", "textbooks", "rejected"]) == ["pretrain", "textbooks"]
    assert ExportConfig(rejected=True).chosen(["pretrain"]) == ["pretrain", "rejected"]
    assert ExportConfig(configs=["exercises", "pretrain"]).chosen([]) == ["pretrain", "exercises"]
    with pytest.raises(Exception, match="unknown export config"):
        ExportConfig(configs=["sft2"]).chosen([])
    assert [size_category(n) for n in (0, 999, 1000, 54_321, 2_000_000_000)] == [
        "n<1K",
        "n<1K",
        "1K<n<10K",
        "10K<n<100K",
        "n>1B",
    ]
