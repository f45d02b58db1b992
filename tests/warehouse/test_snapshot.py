"""The fingerprint of a data root and the record of finished stages: a write anywhere that holds state
changes the fingerprint; Prefect's home, temp files, the lock and the DuckDB catalog do not."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa

from warehouse.shards import run_dir, shard_name, write_shard
from warehouse.snapshot import KEEP, fingerprint, recall, remember, stage_key


def _root_with_a_shard(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "data"
    shard = run_dir(root, "docs", "r1") / shard_name(0, 0)
    write_shard(shard, pa.table({"id": ["a", "b"]}))
    return root, shard


def test_the_fingerprint_follows_state_and_ignores_what_is_not(tmp_path: Path) -> None:
    root, shard = _root_with_a_shard(tmp_path)
    before = fingerprint(root)
    assert fingerprint(root) == before
    for noise in (".prefect/server.json", "tmp/x.parquet", ".curate.lock", "warehouse.duckdb", ".curate/finished.json"):
        (root / noise).parent.mkdir(parents=True, exist_ok=True)
        (root / noise).write_text("noise")
    (shard.parent / ".part-00000-00001.parquet.123-4.tmp").write_text("a killed writer's temp file")
    assert fingerprint(root) == before

    write_shard(run_dir(root, "docs", "r2") / shard_name(0, 0), pa.table({"id": ["c"]}))  # new shard
    after_new = fingerprint(root)
    assert after_new != before
    write_shard(shard, pa.table({"id": ["a", "b", "z"]}))  # rewritten in place (atomic rename: new inode)
    assert fingerprint(root) != after_new
    rewritten = fingerprint(root)
    os.utime(shard, ns=(1, 1))  # same bytes, another modification time
    assert fingerprint(root) != rewritten
    touched = fingerprint(root)
    shard.unlink()
    assert fingerprint(root) != touched


def test_input_files_outside_the_root_count(tmp_path: Path) -> None:
    root, _ = _root_with_a_shard(tmp_path)
    source = tmp_path / "bench.jsonl"
    source.write_text('{"q": 1}\n')
    with_source = fingerprint(root, [str(source)])
    assert with_source != fingerprint(root)
    source.write_text('{"q": 1}\n{"q": 2}\n')
    assert fingerprint(root, [str(source)]) != with_source
    source.unlink()
    assert fingerprint(root, [str(source)]) not in (with_source, fingerprint(root))


def test_recall_returns_the_summary_until_anything_changes(tmp_path: Path) -> None:
    root, _ = _root_with_a_shard(tmp_path)
    key = stage_key("dedup", "0.1.0", {"threshold": 0.8}, "docs")
    assert recall(root, key) is None
    remember(root, key, {"dups": 3})
    entry = recall(root, key)
    assert entry is not None and entry["summary"] == {"dups": 3} and entry["finished_at"]
    assert recall(root, stage_key("dedup", "0.1.0", {"threshold": 0.9}, "docs")) is None  # other settings
    write_shard(run_dir(root, "docs", "r9") / shard_name(0, 0), pa.table({"id": ["new"]}))
    assert recall(root, key) is None


def test_the_record_keeps_the_newest_keys(tmp_path: Path) -> None:
    root, _ = _root_with_a_shard(tmp_path)
    keys = [stage_key("score", i) for i in range(KEEP + 5)]
    for key in keys:
        remember(root, key, {"i": key})
    assert recall(root, keys[0]) is None
    assert recall(root, keys[-1]) is not None and recall(root, keys[5]) is not None
