"""Score flow: embed every docs shard once, then apply a filter shard by shard (tasks mapped, resumable).

Runs on Prefect's thread pool by default, or on a Dask cluster (`runner="dask"`, optional address):
prefect-dask's DaskTaskRunner, a LocalCluster of one process per core when no address is given.
"""

from __future__ import annotations

import os
from pathlib import Path

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from curators.config import EmbedConfig
from curators.errors import CurateError
from curators.score import current_docs_shards, embed_shard, embeddings_shards, prefetch_filter, score_shard
from warehouse.catalog import query
from warehouse.runs import open_run


class ScoreSummary(BaseModel):
    embed_run_id: str
    score_run_id: str
    filter_id: str
    shards: int
    docs: int
    kept: int


class ScoreRunConfig(BaseModel):
    filter_id: str
    embed: EmbedConfig


@task(name="embed-shard", cache_policy=NO_CACHE, retries=1)
def embed_task(data_root: str, run_id: str, docs_shard: str, config: EmbedConfig) -> int:
    return embed_shard(Path(data_root), run_id, docs_shard, config)


@task(name="score-shard", cache_policy=NO_CACHE, retries=1)
def score_task(data_root: str, run_id: str, shard: str, filter_path: str, filter_id: str) -> int:
    return score_shard(Path(data_root), run_id, shard, filter_path, filter_id)


def latest_filter(root: Path, filter_id: str | None) -> tuple[str, str]:
    sql = (
        "SELECT filter_id, path FROM filters_all"
        + (" WHERE filter_id = ?" if filter_id else "")
        + " ORDER BY created DESC LIMIT 1"
    )
    _, rows = query(root, sql, [filter_id] if filter_id else [])
    if not rows:
        raise CurateError(
            "no filter to score with" if not filter_id else f"no filter {filter_id}",
            hint='train one with `curate train` (`curate sql "SELECT * FROM filters"` lists them)',
        )
    return rows[0][0], rows[0][1]


def task_runner(runner: str, address: str | None):  # noqa: ANN201 - a Prefect task runner
    if runner == "dask":
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        workers = len(os.sched_getaffinity(0))
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=len(os.sched_getaffinity(0)))


@flow(name="score")
def score_flow(
    data_root: str,
    embed: EmbedConfig,
    filter_id: str | None = None,
    wait: float | None = None,
    prefetch: bool = True,
) -> ScoreSummary:
    """Embed the current docs shards and score them with `filter_id` (default: the newest filter).
    `prefetch`: load the filter in this process while embedding runs (for the thread runner)."""
    root = Path(data_root).resolve()
    fid, fpath = latest_filter(root, filter_id)
    if prefetch:
        prefetch_filter(fpath, fid)
    shards = current_docs_shards(root)
    with open_run(root, "embed", embed, wait=wait) as erun:
        counts = embed_task.map(unmapped(str(root)), unmapped(erun.run_id), shards, unmapped(embed)).result()
        erun.counts = {"shards": len(shards), "docs": sum(counts)}
    with open_run(root, "score", ScoreRunConfig(filter_id=fid, embed=embed), wait=wait) as srun:
        inputs = embeddings_shards(root, erun.run_id)
        scored = score_task.map(
            unmapped(str(root)), unmapped(srun.run_id), inputs, unmapped(fpath), unmapped(fid)
        ).result()
        srun.counts = {"shards": len(inputs), "docs": sum(scored)}
    _, rows = query(root, "SELECT count(*) FILTER (WHERE keep) FROM scores_all WHERE run_id = ?", [srun.run_id])
    return ScoreSummary(
        embed_run_id=erun.run_id,
        score_run_id=srun.run_id,
        filter_id=fid,
        shards=len(shards),
        docs=sum(scored),
        kept=rows[0][0],
    )
