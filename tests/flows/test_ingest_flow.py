from __future__ import annotations

import json
from pathlib import Path

import pytest

from curators.config import IngestConfig, SourceSpec
from flows.ingest import ingest_flow
from tests.corpus import BIG_DOC_BYTES, hostile_corpus
from warehouse.catalog import query

pytestmark = pytest.mark.usefixtures("prefect_harness")


def test_hostile_corpus_seen_equals_ingested_plus_rejected(tmp_path: Path, data_root: Path) -> None:
    planted = hostile_corpus(tmp_path / "corpus")
    config = IngestConfig(sources=[SourceSpec(path=str(planted.root), name="hostile")], files_per_unit=4)
    summary = ingest_flow(str(data_root), config)

    assert summary.status == "finished" and not summary.units_failed
    assert summary.seen == planted.seen == summary.ingested + summary.rejected
    assert summary.ingested == planted.good
    assert summary.rejects_by_reason == dict(planted.rejects)
    assert summary.files_not_read == dict(planted.not_read)

    # The warehouse agrees with the summary, and every reject can be looked at.
    assert query(data_root, "SELECT count(*) FROM docs")[1] == [(planted.good,)]
    _, rows = query(data_root, "SELECT reason, count(*) FROM rejects GROUP BY 1")
    assert dict(rows) == dict(planted.rejects)
    _, rows = query(data_root, "SELECT locator, n_bytes FROM rejects WHERE reason = 'too_large' ORDER BY 1")
    assert [locator for locator, _ in rows] == ["docs/huge.txt", "web.jsonl:33"]
    assert all(n >= BIG_DOC_BYTES for _, n in rows)
    _, rows = query(data_root, "SELECT detail FROM rejects WHERE locator = 'truncated.parquet'")
    assert "not a readable Parquet file" in rows[0][0]
    _, (row,) = query(data_root, "SELECT counts, status FROM runs")
    assert json.loads(row[0])["seen"] == planted.seen and row[1] == "finished"


def test_rerun_resumes_and_redoes_nothing(tmp_path: Path, data_root: Path) -> None:
    planted = hostile_corpus(tmp_path / "corpus")
    config = IngestConfig(sources=[SourceSpec(path=str(planted.root))], files_per_unit=4)
    first = ingest_flow(str(data_root), config)

    def shard_times() -> list[int]:
        return sorted(
            p.stat().st_mtime_ns for t in ("docs", "rejects") for p in (data_root / "tables" / t).rglob("part-*")
        )

    shards_before = shard_times()
    again = ingest_flow(str(data_root), config)
    assert again.run_id == first.run_id
    assert again.units_skipped == again.units == first.units
    assert (again.seen, again.ingested, again.rejected) == (first.seen, first.ingested, first.rejected)
    assert shard_times() == shards_before  # no shard or marker was written again

    # A changed input file is read again, the rest is not.
    (planted.root / "docs" / "lesson0.md").write_text("# Lesson 0, revised\n\nNew text.\n")
    third = ingest_flow(str(data_root), config)
    assert third.units_skipped == third.units - 1
    assert query(data_root, "SELECT count(*) FROM docs WHERE text LIKE '%revised%'")[1] == [(1,)]
    assert query(data_root, "SELECT count(*) FROM docs")[1] == [(planted.good,)]

    fresh = ingest_flow(str(data_root), config, fresh=True)
    assert fresh.run_id != first.run_id and fresh.units_skipped == 0


def test_units_in_worker_processes_write_what_threads_write(tmp_path: Path) -> None:
    """The hostile corpus beside a JSON Lines file split into byte ranges: the flow's units in 2 worker processes
    write the rows that the same units write in the flow's threads; each rerun redoes nothing."""
    planted = hostile_corpus(tmp_path / "corpus")
    lines = [json.dumps({"text": f"Document {i}: " + "word " * (i % 50), "i": i}) for i in range(3000)]
    lines[1234] = '{"text": broken'
    (planted.root / "large.jsonl").write_text("\n".join(lines) + "\n")
    config = IngestConfig(sources=[SourceSpec(path=str(planted.root), name="hostile")], files_per_unit=4)
    config = config.model_copy(update={"split_bytes": 40_000})
    roots = {workers: tmp_path / f"w{workers}" for workers in (0, 2)}
    summaries = {workers: ingest_flow(str(root), config, workers=workers) for workers, root in roots.items()}
    for summary in summaries.values():
        assert summary.status == "finished" and not summary.units_failed
        assert summary.seen == planted.seen + 3000 == summary.ingested + summary.rejected
    assert summaries[0].units == summaries[2].units > 10  # the large file is several units
    tables = {
        "docs": "SELECT id, locator, text_hash, n_bytes, meta FROM docs ORDER BY id",
        "rejects": "SELECT locator, reason, detail FROM rejects ORDER BY ALL",
    }
    for sql in tables.values():
        assert query(roots[0], sql)[1] == query(roots[2], sql)[1]
    again = ingest_flow(str(roots[2]), config, workers=2)
    assert again.units_skipped == again.units and again.run_id == summaries[2].run_id
