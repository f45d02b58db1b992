from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from curators.config import EmbedConfig, FilterConfig
from flows.runners import task_runner
from flows.score import score_flow
from flows.train import train_flow
from tests.realtext import build_labelled_warehouse
from warehouse.catalog import query

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]


def scores(root: Path) -> list[tuple]:
    return query(root, "SELECT id, score, proba, keep FROM scores ORDER BY id")[1]


def test_train_then_score_resumably_and_identically_on_dask(tmp_path: Path, data_root: Path) -> None:
    docs = build_labelled_warehouse(data_root, tmp_path)
    card = train_flow(str(data_root), FilterConfig(min_labels=20, n_estimators=100), EmbedConfig())
    assert card["metrics"]["filter"]["f1"] >= 0.85
    dask_root = tmp_path / "dask-copy"
    shutil.copytree(data_root, dask_root)

    summary = score_flow(str(data_root), EmbedConfig())
    assert summary.docs == len(docs) and summary.shards == -(-len(docs) // 40)
    local = scores(data_root)
    assert len(local) == len(docs)
    # The filter keeps the explanations and drops tables and licences (it was trained on them: a sanity check).
    _, rows = query(
        data_root,
        "SELECT split_part(locator, ':', 1) AS kind, avg(keep::INT) FROM docs JOIN scores "
        "USING (id) GROUP BY 1 ORDER BY 1",
    )
    kept = dict(rows)
    assert kept["doc"] > 0.9 and kept["licence"] < 0.1 and kept["table"] < 0.1
    assert query(data_root, "SELECT count(*) FROM curated")[1][0][0] == sum(r[3] for r in local)

    # A rerun finds every shard done: nothing is embedded or scored again.
    marks = sorted(
        p.stat().st_mtime_ns for t in ("embeddings", "scores") for p in (data_root / "tables" / t).rglob("*")
    )
    again = score_flow(str(data_root), EmbedConfig())
    assert again.score_run_id == summary.score_run_id
    assert (
        sorted(p.stat().st_mtime_ns for t in ("embeddings", "scores") for p in (data_root / "tables" / t).rglob("*"))
        == marks
    )

    # The same job on a Dask LocalCluster (a process per core) gives exactly the same scores.
    on_dask = score_flow.with_options(task_runner=task_runner("dask", None))(
        str(dask_root), EmbedConfig(), prefetch=False
    )
    assert on_dask.docs == len(docs)
    assert scores(dask_root) == local
