"""`curate decontam` end to end on documents: real benchmark items planted in real prose, found by the real
index, written to `contamination`, and left out of `curated`; real Prefect, DuckDB and Parquet shards."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from curators.decontam.benchsets import BENCHMARKS, load_builtin
from curators.decontam.index import normalize_words
from flows.cli import main
from tests.curators.decontam.test_index import light_edit
from tests.curators.dedup.test_clusters import real_texts
from tests.flows.test_dedup_flow import ingest, write_corpus
from warehouse.catalog import query, refresh_views
from warehouse.schemas import FILTERS, SCORES
from warehouse.shards import run_dir, shard_name, write_shard

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]


def plant(prose: str, item: str) -> str:
    """The item between two halves of a real text, as a copied exercise would sit in a web page."""
    words = prose.split()
    half = len(words) // 2
    return " ".join(words[:half]) + "\n\n" + item + "\n\n" + " ".join(words[half:])


def keep_everything(root: Path) -> None:
    """A filter that keeps every document, so that `curated` is every document less what is dropped."""
    _, rows = query(root, "SELECT id FROM docs")
    now = datetime.now(UTC)
    filters = [{"filter_id": "f1", "path": "filters/f1", "created": now, "run_id": "train-1"}]
    write_shard(run_dir(root, "filters", "train-1") / shard_name(0, 0), pa.Table.from_pylist(filters, FILTERS))
    scores = [{"id": r[0], "filter_id": "f1", "score": 3.0, "proba": 0.5, "keep": True, "run_id": "s-1"} for r in rows]
    write_shard(run_dir(root, "scores", "s-1") / shard_name(0, 0), pa.Table.from_pylist(scores, SCORES))
    refresh_views(root)


def contaminated(root: Path) -> dict[str, set[tuple[str, str]]]:
    """Document name -> {(benchmark, item_id)} of the `contamination` view."""
    _, rows = query(
        root,
        "SELECT d.locator, c.benchmark, c.item_id FROM contamination c JOIN docs d USING (id) WHERE target = 'docs'",
    )
    found: dict[str, set[tuple[str, str]]] = {}
    for name, benchmark, item_id in rows:
        found.setdefault(name, set()).add((benchmark, item_id))
    return found


def test_documents_holding_benchmark_items_leave_curated(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prose = real_texts(24)
    rng = random.Random(17)
    docs = {f"clean{i:02d}": text for i, text in enumerate(prose[:12])}
    planted: dict[str, tuple[str, str]] = {}
    for k, name in enumerate(BENCHMARKS):  # one document per built-in set; every other one lightly edited
        item = next(it for it in load_builtin(name)[100:] if len(normalize_words(it.text)) >= 20)
        text = item.text if k % 2 == 0 else light_edit(item.text, rng)
        docs[f"{name}-copy"] = plant(prose[12 + k % 12], text)
        planted[f"{name}-copy"] = (name, item.item_id)
    ingest(data_root, write_corpus(tmp_path / "web.jsonl", docs), "web")
    keep_everything(data_root)
    capsys.readouterr()

    assert main(["-d", str(data_root), "decontam"]) == 0
    printed = capsys.readouterr().out
    assert f"decontam docs: {len(planted)} of {len(docs)} hold a benchmark item" in printed
    assert "removals per benchmark" in printed and all(name in printed for name in BENCHMARKS)
    found = contaminated(data_root)
    assert set(found) == set(planted)
    for name, item in planted.items():
        # The planted item, and maybe siblings that share its text (DROP questions on one passage).
        assert item in found[name] and {b for b, _ in found[name]} == {item[0]}, name
    _, rows = query(data_root, "SELECT d.locator FROM curated c JOIN docs d USING (id)")
    assert {r[0] for r in rows} == {name for name in docs if name.startswith("clean")}
    _, rows = query(data_root, "SELECT benchmark, matched FROM contamination WHERE target = 'docs'")
    assert all(len(matched.split()) >= 8 for _, matched in rows)  # the shared words, for a reader to check

    # Nothing changed: the command answers from its record; the flow run again (--rerun) checks nothing again;
    # a run with fewer sets replaces the evidence.
    assert main(["-d", str(data_root), "decontam"]) == 0
    assert "decontam: up to date" in capsys.readouterr().out
    assert main(["-d", str(data_root), "decontam", "--rerun"]) == 0
    assert "0 of 1 shards checked now" in capsys.readouterr().out
    assert main(["-d", str(data_root), "decontam", "--benchmark", "gsm8k", "--benchmark", "squad"]) == 0
    assert set(contaminated(data_root)) == {"gsm8k-copy", "squad-copy"}
    _, rows = query(data_root, "SELECT count(*) FROM curated")
    assert rows[0][0] == len(docs) - 2


def test_no_documents_is_a_clear_error(data_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_root.mkdir(parents=True)
    assert main(["-d", str(data_root), "decontam", "--target", "generations"]) == 1
    err = capsys.readouterr().err
    assert "nothing to decontaminate: no generations yet" in err and "curate synth textbooks" in err


def test_shards_checked_in_worker_processes_get_the_rows_of_the_task_threads(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two shards or more to check, each is checked in a worker process that reads the index the flow
    stored: the rows a run in the task threads writes."""
    import shutil

    import flows.runners
    from curators.decontam.config import DecontamConfig
    from flows.decontam import decontam_flow
    from flows.processes import WorkerPool

    prose = real_texts(8)
    names = ["gsm8k", "humaneval"]
    docs = [{}, {}]
    for k, name in enumerate(names):
        for j, item in enumerate(load_builtin(name)[100:103]):
            docs[j % 2][f"{name}-{j}"] = plant(prose[k * 3 + j], item.text)
    docs[0]["clean"], docs[1]["clean-too"] = prose[6], prose[7]
    for part, texts in enumerate(docs):  # two files: two docs shards
        ingest(data_root, write_corpus(tmp_path / f"web{part}.jsonl", texts), f"web{part}")
    copy = tmp_path / "copy"
    shutil.copytree(data_root, copy)
    calls: list = []
    real_run = WorkerPool.run
    monkeypatch.setattr(WorkerPool, "run", lambda self, fn, *a, **k: calls.append(fn) or real_run(self, fn, *a, **k))
    monkeypatch.setattr(flows.runners, "SHARD_PROCESS_MIN_BYTES", 0)
    config = DecontamConfig(benchmarks=names)
    found = {}
    for where, root, workers in (("threads", data_root, 0), ("processes", copy, None)):
        calls.clear()
        summary = decontam_flow(str(root), config, workers=workers)
        assert summary.shards == summary.shards_computed == 2
        assert len(calls) == (2 if where == "processes" else 0)  # one call per shard
        _, rows = query(root, "SELECT * EXCLUDE (run_id) FROM contamination ORDER BY ALL")
        found[where] = rows
    assert len(found["processes"]) == 6 and found["processes"] == found["threads"]
