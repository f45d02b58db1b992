from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.shards import (
    CheckpointWriter,
    done_shards,
    is_done,
    marker_path,
    read_marker,
    run_dir,
    shard_name,
    write_shard,
)

SCHEMAS = {
    "a": pa.schema([pa.field("x", pa.int64())]),
    "b": pa.schema([pa.field("y", pa.string())]),
}


def writer(root: Path, fingerprint: str = "f1", max_rows: int = 3) -> CheckpointWriter:
    return CheckpointWriter(
        root, "r1", unit=7, schemas=SCHEMAS, fingerprint=fingerprint, max_rows=max_rows, max_bytes=1 << 30
    )


def fill(w: CheckpointWriter, start: int, stop: int) -> None:
    for i in range(start, stop):
        w.add("a", {"x": i})
        if i % 2:
            w.add("b", {"y": str(i)})
        if w.should_flush:
            w.flush(cursor=i + 1)


def test_write_shard_is_atomic_and_marked(tmp_path: Path) -> None:
    shard = tmp_path / "t" / "part-00000-00000.parquet"
    marker = write_shard(shard, pa.table({"x": [1, 2]}), cursor=2)
    assert marker["rows"] == 2 and marker["bytes"] == shard.stat().st_size
    assert is_done(shard)
    assert not list(shard.parent.glob(".*.tmp"))
    assert pq.read_table(shard).column("x").to_pylist() == [1, 2]


def test_empty_checkpoint_writes_a_marker_and_no_file(tmp_path: Path) -> None:
    shard = tmp_path / "part-00000-00000.parquet"
    write_shard(shard, SCHEMAS["a"].empty_table())
    assert not shard.exists() and is_done(shard)


def test_incomplete_shards_are_never_listed(tmp_path: Path) -> None:
    folder = run_dir(tmp_path, "a", "r1")
    good = folder / shard_name(0, 0)
    write_shard(good, pa.table({"x": [1]}))
    # A shard renamed into place but killed before its marker: not done.
    no_marker = folder / shard_name(0, 1)
    pq.write_table(pa.table({"x": [2]}), no_marker)
    # A shard whose file was cut short after its marker was written: size mismatch, not done.
    cut = folder / shard_name(0, 2)
    write_shard(cut, pa.table({"x": list(range(1000))}))
    cut.write_bytes(cut.read_bytes()[:100])
    # A temp file of a killed writer.
    (folder / f".{shard_name(0, 3)}.123-456.tmp").write_bytes(b"PAR1 partial")
    assert [p for p, _ in done_shards(tmp_path, "a")] == [good]


def test_checkpoints_resume_after_the_last_complete_one(tmp_path: Path) -> None:
    w = writer(tmp_path)
    assert w.resume().seq == 0
    fill(w, 0, 7)  # flushes after 2, 4, 6 (a + b rows reach 3)
    written = w.seq
    assert written >= 2
    # Simulate a kill during the last checkpoint: its "b" marker never got written.
    last_b = run_dir(tmp_path, "b", "r1") / shard_name(7, written - 1)
    marker_path(last_b).unlink()

    again = writer(tmp_path)
    point = again.resume()
    assert point.seq == written - 1 and not point.finished
    assert point.cursor == read_marker(run_dir(tmp_path, "a", "r1") / shard_name(7, written - 2))["cursor"]
    # The stale half checkpoint is gone from both tables.
    assert not (run_dir(tmp_path, "a", "r1") / shard_name(7, written - 1)).exists()
    assert read_marker(run_dir(tmp_path, "a", "r1") / shard_name(7, written - 1)) is None
    fill(again, point.cursor, 10)
    again.flush(cursor=10, final=True)
    xs = sorted(x for p, _ in done_shards(tmp_path, "a") for x in pq.read_table(p).column("x").to_pylist())
    assert xs == list(range(10))  # nothing lost, nothing doubled

    final = writer(tmp_path).resume()
    assert final.finished and final.cursor == 10 and final.rows["a"] == 10


def test_a_changed_input_restarts_the_unit(tmp_path: Path) -> None:
    w = writer(tmp_path, fingerprint="old")
    w.resume()
    fill(w, 0, 5)
    w.flush(cursor=5, final=True)
    point = writer(tmp_path, fingerprint="new").resume()
    assert point.seq == 0 and point.cursor == 0 and not point.finished
    assert done_shards(tmp_path, "a") == []


def test_rows_are_validated_at_the_writer(tmp_path: Path) -> None:
    """A misspelt key is an error naming the table and the key, never a silent null; so is a missing or
    None required column. An optional column may be left out (null)."""
    import pytest

    from warehouse.errors import RowError

    schema = pa.schema([pa.field("id", pa.string(), nullable=False), pa.field("note", pa.string())])
    w = CheckpointWriter(tmp_path, "r1", 0, {"t": schema}, "f", max_rows=10, max_bytes=1 << 20)
    w.add("t", {"id": "a", "note": "x"})
    w.add("t", {"id": "b"})  # optional column left out: null
    with pytest.raises(RowError, match="table 't' has no column 'nte'"):
        w.add("t", {"id": "c", "nte": "typo"})
    with pytest.raises(RowError, match="required column 'id' is missing"):
        w.add("t", {"note": "no id"})
    with pytest.raises(RowError, match="required column 'id' is None"):
        w.add("t", {"id": None, "note": "x"})
    w.flush(cursor=2, final=True)
    (shard,) = [p for p, _ in done_shards(tmp_path, "t")]
    assert pq.read_table(shard).to_pylist() == [{"id": "a", "note": "x"}, {"id": "b", "note": None}]
