"""A stage command with nothing to do answers at once, without Prefect: the second `curate dedup` on an
unchanged data root prints the first one's summary even with no Prefect API reachable; new documents, other
settings or --rerun run the flow again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from curators.config import IngestConfig, SourceSpec
from curators.ingest.plan import plan_units
from curators.ingest.store import ingest_unit
from flows.cli import main
from tests.corpus import write_jsonl
from tests.realtext import real_documents
from warehouse.catalog import query
from warehouse.runs import open_run

CURATE = [sys.executable, "-m", "flows.cli"]


def _ingest(root: Path, path: Path, texts: list[str]) -> None:
    write_jsonl(path, [json.dumps({"text": t}).encode() for t in texts])
    config = IngestConfig(sources=[SourceSpec(path=str(path), name=path.stem)])
    with open_run(root, "ingest", config) as run:
        for unit in plan_units(config).units:
            ingest_unit(unit, root, run.run_id, config)


@pytest.mark.usefixtures("prefect_harness")
def test_dedup_with_nothing_to_do_answers_without_prefect(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    texts = [text for _, text, _ in real_documents()[:6]]  # six different stdlib docstrings
    _ingest(data_root, tmp_path / "a.jsonl", [*texts, texts[0]])  # one exact duplicate
    assert main(["-d", str(data_root), "dedup"]) == 0
    first = capsys.readouterr().out
    assert "up to date" not in first and "1 duplicates" in " ".join(first.split())

    # Nothing changed: no Prefect at all (a dead API would fail any flow run), the same summary.
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    again = subprocess.run(
        [*CURATE, "-d", str(data_root), "dedup"], capture_output=True, text=True, env=env, timeout=120
    )
    assert again.returncode == 0, again.stderr
    assert "dedup: up to date" in again.stdout and "1 duplicates" in " ".join(again.stdout.split())
    assert "prefect" not in again.stderr.lower()

    # --rerun runs the flow; so do new documents, and they are deduplicated (other settings: a test of
    # warehouse/snapshot.py).
    assert main(["-d", str(data_root), "dedup", "--rerun"]) == 0
    assert "up to date" not in capsys.readouterr().out
    _ingest(data_root, tmp_path / "b.jsonl", [texts[1]])
    assert main(["-d", str(data_root), "dedup"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "up to date" not in out and "8 documents, 2 duplicates" in out
    _, rows = query(data_root, "SELECT count(*) FROM dups")
    assert rows == [(2,)]
    assert main(["-d", str(data_root), "dedup"]) == 0
    assert "up to date" in capsys.readouterr().out


@pytest.mark.parametrize("stage", ["quality", "dedup", "decontam", "score"])
def test_a_data_root_that_does_not_exist_is_said_before_prefect_starts(tmp_path: Path, stage: str) -> None:
    """A mistyped --data-root: the stages that read a warehouse say so at once, and create nothing there (no
    lock file, no Prefect home, no temporary API). (An existing folder gets the stage's own error: what to run.)"""
    missing = tmp_path / "no-such-root"
    done = subprocess.run([*CURATE, "-d", str(missing), stage], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert f"no warehouse at {missing}" in done.stderr and "curate ingest PATH" in done.stderr
    assert not missing.exists()
