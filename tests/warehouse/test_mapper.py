"""The shard mapper: one output shard per input shard, named by its input, computed once per fingerprint."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from warehouse.mapper import map_shard, output_shard, unit_of
from warehouse.schemas import SCORES
from warehouse.shards import run_dir, shard_name, write_shard


def docs_shard(root: Path, ids: list[str], name: str = "run=ingest-1") -> Path:
    shard = root / "tables" / "docs" / name / shard_name(0, 0)
    write_shard(shard, pa.table({"id": ids}), table="docs")
    return shard


def scorer(calls: list[Path], score: float = 1.0):  # noqa: ANN201 - a compute function
    def compute(path: Path) -> pa.Table:
        calls.append(path)
        ids = pq.read_table(path).column("id").to_pylist()
        n = len(ids)
        columns = {
            "id": ids,
            "filter_id": ["f"] * n,
            "score": [score] * n,
            "proba": [0.5] * n,
            "keep": [True] * n,
            "run_id": ["run-1"] * n,
        }
        return pa.Table.from_pydict(columns, schema=SCORES)

    return compute


def test_an_output_shard_is_computed_once_and_named_by_its_input(tmp_path: Path) -> None:
    shard = docs_shard(tmp_path, ["a", "b", "c"])
    calls: list[Path] = []
    first = map_shard(tmp_path, "run-1", "scores", shard, "filter-1", scorer(calls))
    assert first.computed and first.rows == 3 and first.shard == output_shard(tmp_path, "scores", "run-1", shard)
    assert first.shard == run_dir(tmp_path, "scores", "run-1") / shard_name(unit_of(shard), 0)
    again = map_shard(tmp_path, "run-1", "scores", shard, "filter-1", scorer(calls))
    assert not again.computed and again.rows == 3 and len(calls) == 1  # done: not computed again
    # What the output depends on changed: computed again, in place.
    changed = map_shard(tmp_path, "run-1", "scores", shard, "filter-2", scorer(calls, score=4.0))
    assert changed.computed and len(calls) == 2
    assert pq.read_table(changed.shard).column("score").to_pylist() == [4.0] * 3


def test_a_changed_input_is_computed_again_and_units_are_stable(tmp_path: Path) -> None:
    shard = docs_shard(tmp_path, ["a"])
    calls: list[Path] = []
    map_shard(tmp_path, "run-1", "scores", shard, "f", scorer(calls))
    docs_shard(tmp_path, ["a", "b", "c", "d"])  # the same path, rewritten with more rows
    redone = map_shard(tmp_path, "run-1", "scores", shard, "f", scorer(calls))
    assert redone.computed and redone.rows == 4 and len(calls) == 2
    # The unit depends on the input's table, run and name only (not on where the warehouse lives).
    other_root = tmp_path / "copy"
    assert unit_of(docs_shard(other_root, ["z"])) == unit_of(shard)
    assert unit_of(docs_shard(tmp_path, ["z"], name="run=ingest-2")) != unit_of(shard)


def test_an_empty_input_gives_a_done_output_without_a_file(tmp_path: Path) -> None:
    shard = docs_shard(tmp_path, ["a"])
    empty = map_shard(tmp_path, "run-1", "scores", shard, "f", lambda _: SCORES.empty_table())
    assert empty.computed and empty.rows == 0 and not empty.shard.exists()
    assert not map_shard(tmp_path, "run-1", "scores", shard, "f", lambda _: SCORES.empty_table()).computed
