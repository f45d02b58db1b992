from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from curators.config import IngestConfig, SourceSpec
from curators.ingest.plan import plan_units
from curators.ingest.store import ingest_unit
from tests.corpus import prose, write_jsonl
from warehouse.catalog import query, refresh_views
from warehouse.shards import done_shards, table_dir

N_LINES = 30_000
BAD_EVERY = 1000  # every 1000th line is malformed JSON


def make_input(tmp_path: Path) -> Path:
    path = tmp_path / "big.jsonl"
    lines = [b"{broken" if i % BAD_EVERY == 0 else json.dumps({"text": prose(i, 30)}).encode() for i in range(N_LINES)]
    write_jsonl(path, lines)
    return path


def config_for(path: Path) -> IngestConfig:
    return IngestConfig(sources=[SourceSpec(path=str(path), name="big")], shard_rows=1000)


# Runs ingest in a child process that kills itself (SIGKILL) at a chosen point of its 4th shard.
CHILD = """
import os, signal, sys
from pathlib import Path
import warehouse.shards as shards
from curators.config import IngestConfig
from curators.ingest.store import ingest_unit
from curators.ingest.plan import plan_units

config = IngestConfig.model_validate_json(sys.argv[1])
root, mode = Path(sys.argv[2]), sys.argv[3]
calls = {"n": 0}
real_write_table = shards.pq.write_table
real_write_bytes = shards.write_bytes_atomic

def write_table(table, where, **kw):
    calls["n"] += 1
    real_write_table(table, where, **kw)
    if mode == "during-parquet-write" and calls["n"] == 4:
        with open(where, "r+b") as fh:          # the shard's temp file is half written...
            fh.truncate(os.path.getsize(where) // 2)
        os.kill(os.getpid(), signal.SIGKILL)    # ...when the process dies

def write_bytes(path, data):
    if mode == "before-marker" and calls["n"] == 4 and str(path).endswith(".done"):
        os.kill(os.getpid(), signal.SIGKILL)    # the shard is in place, its marker is not
    real_write_bytes(path, data)

shards.pq.write_table = write_table
shards.write_bytes_atomic = write_bytes
for unit in plan_units(config).units:
    ingest_unit(unit, root, "run-1", config)
"""


def marked_rows(root: Path, table: str) -> int:
    return sum(marker["rows"] for _, marker in done_shards(root, table))


def finish_and_check(root: Path, config: IngestConfig) -> None:
    results = [ingest_unit(unit, root, "run-1", config) for unit in plan_units(config).units]
    refresh_views(root)
    n_bad = len(range(0, N_LINES, BAD_EVERY))
    assert sum(r.seen for r in results) == N_LINES
    assert query(root, "SELECT count(*), count(DISTINCT id) FROM docs_all")[1] == [(N_LINES - n_bad,) * 2]
    assert query(root, "SELECT count(*), count(DISTINCT locator) FROM rejects_all")[1] == [(n_bad, n_bad)]
    # Exactly the documents of the input, each once: the rows of an uninterrupted run.
    _, rows = query(root, "SELECT text FROM docs_all ORDER BY text")
    assert [r[0] for r in rows] == sorted(prose(i, 30) for i in range(N_LINES) if i % BAD_EVERY)
    assert not list(table_dir(root, "docs").parent.rglob(".*.tmp"))


@pytest.mark.parametrize("mode", ["during-parquet-write", "before-marker"])
def test_a_shard_cut_by_a_kill_is_never_read_and_the_rerun_completes(
    tmp_path: Path, data_root: Path, mode: str
) -> None:
    config = config_for(make_input(tmp_path))
    child = subprocess.run(
        [sys.executable, "-c", CHILD, config.model_dump_json(), str(data_root), mode],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr

    tables = table_dir(data_root, "docs").parent
    if mode == "during-parquet-write":
        assert list(tables.rglob(".part-*.tmp")), "the kill should leave a half-written temp file"
    else:
        unmarked = [p for p in tables.rglob("part-*.parquet") if not Path(f"{p}.done").exists()]
        assert unmarked, "the kill should leave a shard without its marker"
    refresh_views(data_root)
    # The views read exactly the marked shards: every visible row is complete, no partial file is read.
    visible = query(data_root, "SELECT count(*), count(DISTINCT id), min(length(text)) FROM docs_all")[1][0]
    assert visible[0] == marked_rows(data_root, "docs") == visible[1] > 0
    assert visible[2] > 0
    assert query(data_root, "SELECT count(*) FROM rejects_all")[1] == [(marked_rows(data_root, "rejects"),)]

    finish_and_check(data_root, config)


def stop_and_wait(child: subprocess.Popen) -> None:
    """SIGSTOP the child and wait until every thread of it is stopped: from then on it writes nothing."""
    child.send_signal(signal.SIGSTOP)
    deadline = time.monotonic() + 60
    while True:
        states = []
        for task in Path(f"/proc/{child.pid}/task").iterdir():
            try:  # the state is the field after the parenthesised command name
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
            except FileNotFoundError:  # a thread that just ended
                continue
        assert "Z" not in states, "the child finished before it was stopped"
        if states and all(state in "tT" for state in states):
            return
        assert time.monotonic() < deadline, f"the child did not stop: {states}"
        time.sleep(0.01)


def test_killed_at_a_random_moment_then_rerun_loses_and_doubles_nothing(tmp_path: Path, data_root: Path) -> None:
    config = config_for(make_input(tmp_path))
    total = N_LINES - len(range(0, N_LINES, BAD_EVERY))
    child = subprocess.Popen([sys.executable, "-c", CHILD, config.model_dump_json(), str(data_root), "none"])
    try:
        deadline = time.monotonic() + 120
        while marked_rows(data_root, "docs") == 0:  # the first shard is done: 29 more to go
            assert child.poll() is None, "the child ended before it was stopped"
            assert time.monotonic() < deadline, "the child marked no shard in time"
            time.sleep(0.01)
        stop_and_wait(child)  # wherever it is now: the moment of the kill
        marked_at_kill = marked_rows(data_root, "docs")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert 0 < marked_at_kill == marked_rows(data_root, "docs") < total  # killed mid-stage: some shards, not all
    refresh_views(data_root)
    assert query(data_root, "SELECT count(*) FROM docs_all")[1] == [(marked_at_kill,)]
    finish_and_check(data_root, config)


def test_a_finished_unit_is_skipped_on_rerun(tmp_path: Path, data_root: Path) -> None:
    path = tmp_path / "small.jsonl"
    write_jsonl(path, [json.dumps({"text": prose(i)}).encode() for i in range(10)])
    config = config_for(path)
    (unit,) = plan_units(config).units
    first = ingest_unit(unit, data_root, "r", config)
    again = ingest_unit(unit, data_root, "r", config)
    assert not first.skipped and again.skipped
    assert (again.seen, again.ingested, again.rejected) == (first.seen, first.ingested, first.rejected) == (10, 10, 0)
