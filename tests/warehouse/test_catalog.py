from __future__ import annotations

import time
from pathlib import Path

import pytest

from curators.config import IngestConfig, SourceSpec
from curators.errors import CurateError
from curators.ingest.plan import plan_units
from curators.ingest.store import ingest_unit
from tests.corpus import write_jsonl
from warehouse.catalog import query, refresh_views
from warehouse.runs import open_run, read_runs


def test_an_empty_warehouse_has_typed_views(data_root: Path) -> None:
    refresh_views(data_root)
    columns, rows = query(data_root, "SELECT * FROM docs")
    assert rows == [] and columns[:3] == ["id", "source", "locator"]
    _, types = query(data_root, "SELECT column_name, column_type FROM (DESCRIBE docs)")
    assert dict(types)["n_chars"] == "BIGINT"


def test_reading_a_missing_warehouse_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(CurateError, match="no warehouse") as exc:
        query(tmp_path / "nothing", "SELECT 1")
    assert "curate run" in exc.value.hint


def test_bad_sql_is_a_clear_error(data_root: Path) -> None:
    refresh_views(data_root)
    with pytest.raises(CurateError, match="SQL error"):
        query(data_root, "SELECT nope FROM docs")


def ingest(root: Path, path: Path, **options: object) -> str:
    config = IngestConfig(sources=[SourceSpec(path=str(path), name="src")], **options)
    with open_run(root, "ingest", config) as run:
        for unit in plan_units(config).units:
            ingest_unit(unit, root, run.run_id, config)
    return run.run_id


def test_docs_view_shows_the_latest_ingest_of_each_source(data_root: Path, tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    write_jsonl(path, [b'{"text": "short"}', b'{"text": "a much longer document"}'])
    first = ingest(data_root, path, max_doc_bytes=10)
    assert query(data_root, "SELECT count(*) FROM docs")[1] == [(1,)]
    assert query(data_root, "SELECT reason FROM rejects")[1] == [("too_large",)]
    time.sleep(1.1)  # run ids carry the second they started
    second = ingest(data_root, path, max_doc_bytes=1000)  # another config: a new run
    assert second != first
    assert query(data_root, "SELECT count(*) FROM docs")[1] == [(2,)]
    assert query(data_root, "SELECT count(*) FROM rejects")[1] == [(0,)]
    assert query(data_root, "SELECT count(*) FROM docs_all")[1] == [(3,)]  # history is kept
    # Rerunning the first config resumes its run, which becomes the latest again.
    assert ingest(data_root, path, max_doc_bytes=10) == first
    assert query(data_root, "SELECT count(*) FROM docs")[1] == [(1,)]
    assert [r.status for r in read_runs(data_root)] == ["finished", "finished"]


def test_a_failing_run_is_recorded_and_views_still_refresh(data_root: Path) -> None:
    config = IngestConfig()
    with pytest.raises(RuntimeError), open_run(data_root, "ingest", config):
        raise RuntimeError("boom")
    (run,) = read_runs(data_root)
    assert run.status == "failed" and "boom" in run.error and run.finished is not None
    assert query(data_root, "SELECT status FROM runs")[1] == [("failed",)]


def test_contamination_shows_the_latest_run_of_each_target_and_reads_older_shards(data_root: Path) -> None:
    """Shards written before the `target` column existed still read (as generations); each target shows the
    rows of its latest finished decontam run only."""
    import pyarrow as pa

    from warehouse.runs import RunRecord, write_run
    from warehouse.schemas import CONTAMINATION
    from warehouse.shards import run_dir, shard_name, write_shard

    old_schema = pa.schema([f for f in CONTAMINATION if f.name != "target"])
    row = {"benchmark": "gsm8k", "item_id": "7", "method": "ngram", "ngram": 13, "ngram_overlap": 1.0}
    row |= {"difflib_ratio": None, "matched": "janet s ducks"}

    def run(run_id: str, config: str, rows: list[dict], schema: pa.Schema) -> None:
        write_run(data_root, RunRecord(run_id=run_id, flow="decontam", config=config, status="finished"))
        table = pa.Table.from_pylist([r | {"run_id": run_id} for r in rows], schema=schema)
        write_shard(run_dir(data_root, "contamination", run_id) / shard_name(0, 0), table, table="contamination")

    run("20250101T000000-decontam-old", '{"ngram": 13}', [row | {"id": "g1"}], old_schema)
    refresh_views(data_root)
    assert query(data_root, "SELECT id, target FROM contamination")[1] == [("g1", "generations")]
    run("20250102T000000-decontam-docs", '{"target": "docs"}', [row | {"id": "d1", "target": "docs"}], CONTAMINATION)
    run("20250103T000000-decontam-docs", '{"target": "docs"}', [row | {"id": "d2", "target": "docs"}], CONTAMINATION)
    refresh_views(data_root)
    assert sorted(query(data_root, "SELECT id, target FROM contamination")[1]) == [
        ("d2", "docs"),
        ("g1", "generations"),
    ]


class Recording:
    """A catalog connection that records the views it is asked to make."""

    def __init__(self, con, made: list[str]) -> None:  # noqa: ANN001 - a DuckDB connection
        self.con, self.made = con, made

    def execute(self, sql: str, *args: object):  # noqa: ANN201 - DuckDB's own result
        if sql.startswith("CREATE OR REPLACE VIEW"):
            self.made.append(sql.split()[4])
        return self.con.execute(sql, *args)

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.con.close()


def test_a_refresh_makes_again_only_the_views_whose_shards_changed(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import warehouse.catalog as catalog

    made: list[str] = []
    real_connect = catalog.connect
    monkeypatch.setattr(catalog, "connect", lambda *a, **k: Recording(real_connect(*a, **k), made))
    refresh_views(data_root)
    assert "docs_all" in made and "docs" in made and "llm_responses" in made  # a new catalog: every view
    made.clear()
    refresh_views(data_root)
    assert made == []  # nothing changed: no view is made again

    path = tmp_path / "a.jsonl"
    write_jsonl(path, [b'{"text": "one document"}', b'{"text": "another document"}'])
    ingest(data_root, path)  # its run's end refreshes the views
    assert set(made) == {"docs_all", "runs_all"}  # the shards of those tables changed; the columns did not
    assert query(data_root, "SELECT count(*) FROM curated")[1] == [(2,)]  # derived views see the new shards


def test_a_changed_schema_makes_every_derived_view_again(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pyarrow as pa

    import warehouse.catalog as catalog

    refresh_views(data_root)
    docs = catalog.TABLES["docs"]
    monkeypatch.setitem(catalog.TABLES, "docs", docs.append(pa.field("added_later", pa.int64())))
    refresh_views(data_root)
    columns, rows = query(data_root, "SELECT * FROM docs")  # DuckDB refuses a view whose column types changed
    assert "added_later" in columns and rows == []
    assert query(data_root, "SELECT count(*) FROM curated")[1] == [(0,)]
    schema_files = sorted(p.name for p in (data_root / "tables" / "_schemas").glob("docs*.parquet"))
    assert len(schema_files) == 1  # the earlier schema's file is gone
