"""Run manifests: written, resumed and read back without pandas."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
from pydantic import BaseModel

from warehouse.runs import open_run, read_runs
from warehouse.schemas import RUNS
from warehouse.shards import run_dir, shard_name, write_shard


class Config(BaseModel):
    n: int


def test_a_run_is_read_back_as_written_and_resumed_with_the_same_config(tmp_path: Path) -> None:
    with open_run(tmp_path, "demo", Config(n=1)) as run:
        run.counts = {"rows": 3}
    with open_run(tmp_path, "demo", Config(n=1)) as again:
        pass
    with open_run(tmp_path, "demo", Config(n=2)) as other:
        pass
    records = read_runs(tmp_path)
    assert [r.run_id for r in records] == sorted({run.run_id, other.run_id})
    assert again.run_id == run.run_id
    first = next(r for r in records if r.run_id == run.run_id)
    assert first.status == "finished" and first.counts == {"rows": 3}
    assert first.started.tzinfo is UTC and first.finished is not None and first.finished >= first.started


def test_a_manifest_written_before_a_column_existed_reads_it_as_none(tmp_path: Path) -> None:
    old = pa.schema([f for f in RUNS if f.name not in ("error", "finished")])
    row = {
        "run_id": "20250101T000000-demo-abc",
        "flow": "demo",
        "config": "{}",
        "config_hash": "abc",
        "versions": "{}",
        "started": datetime(2025, 1, 1, tzinfo=UTC),
        "status": "finished",
        "counts": "{}",
    }
    table = pa.Table.from_pylist([row], schema=old)
    write_shard(run_dir(tmp_path, "runs", row["run_id"]) / shard_name(0, 0), table, table="runs")
    (record,) = read_runs(tmp_path)
    assert record.error is None and record.finished is None
    assert record.started == datetime(2025, 1, 1, tzinfo=UTC)


def test_reading_the_manifests_imports_neither_pandas_nor_pyarrow_dataset(tmp_path: Path) -> None:
    with open_run(tmp_path, "demo", Config(n=1)):
        pass
    code = (
        "import sys; from pathlib import Path; from warehouse.runs import read_runs; "
        f"assert read_runs(Path({str(tmp_path)!r})); "
        "print(sorted(m for m in ('pandas', 'pyarrow.dataset') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_an_error_that_quotes_a_name_which_is_not_utf8_is_recorded(tmp_path: Path) -> None:
    try:
        with open_run(tmp_path, "demo", Config(n=1)):
            raise OSError("cannot read caf\udce9.txt")  # a Latin-1 file name, as Python decodes it
    except OSError:
        pass
    (record,) = read_runs(tmp_path)
    assert record.status == "failed" and record.error == "OSError: cannot read caf\\udce9.txt"
