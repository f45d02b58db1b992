"""Score flow: embed every current docs shard once, then apply a filter shard by shard (tasks mapped,
resumable). `embed_shards` and `score_shards` are shared with the synth gates, which embed and score
generations in runs of their own (the run config names the target table).

Runs on Prefect's thread pool by default, or on a Dask cluster (`flows.runners`).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from curators.errors import CurateError
from curators.filter.config import EmbedConfig
from curators.filter.score import prefetch_filter
from curators.filter.store import embed_shard, score_shard
from flows.runners import Runner, task_runner
from warehouse.catalog import query
from warehouse.listings import TextTable, current_docs_shards, newest_filter, table_shards
from warehouse.lock import writer_lock
from warehouse.runs import open_run


class ScoreSummary(BaseModel):
    embed_run_id: str
    score_run_id: str
    filter_id: str
    shards: int
    docs: int
    kept: int


class EmbedRunConfig(BaseModel):
    target: TextTable
    embed: EmbedConfig


class ScoreRunConfig(BaseModel):
    target: TextTable
    filter_id: str
    embed: EmbedConfig


@task(name="embed-shard", cache_policy=NO_CACHE, retries=1)
def embed_task(data_root: str, run_id: str, shard: str, config: EmbedConfig) -> int:
    return embed_shard(Path(data_root), run_id, shard, config).rows


@task(name="score-shard", cache_policy=NO_CACHE, retries=1)
def score_task(data_root: str, run_id: str, shard: str, filter_path: str, filter_id: str) -> int:
    return score_shard(Path(data_root), run_id, shard, filter_path, filter_id).rows


def the_filter(root: Path, filter_id: str | None) -> tuple[str, str]:
    """(filter_id, path) of `filter_id`, or of the newest filter; a clear error when there is none."""
    found = newest_filter(root, filter_id)
    if found is None:
        raise CurateError(
            "no filter to score with" if not filter_id else f"no filter {filter_id}",
            hint='train one with `curate train` (`curate sql "SELECT * FROM filters"` lists them)',
        )
    return found


def embed_shards(root: Path, target: TextTable, shards: list[str], embed: EmbedConfig, wait: float | None) -> str:
    """Embed `shards` of `target` in the embed run of that target; returns the run id."""
    with open_run(root, "embed", EmbedRunConfig(target=target, embed=embed), wait=wait) as run:
        counts = embed_task.map(unmapped(str(root)), unmapped(run.run_id), shards, unmapped(embed)).result()
        run.counts = {"shards": len(shards), "docs": sum(counts)}
    return run.run_id


def score_shards(
    root: Path, target: TextTable, embed_run_id: str, flt: tuple[str, str], embed: EmbedConfig, wait: float | None
) -> tuple[str, int]:
    """Score every embeddings shard of run `embed_run_id` with the filter; returns (run id, rows scored)."""
    filter_id, filter_path = flt
    inputs = table_shards(root, "embeddings", embed_run_id)
    with open_run(root, "score", ScoreRunConfig(target=target, filter_id=filter_id, embed=embed), wait=wait) as run:
        scored = score_task.map(
            unmapped(str(root)), unmapped(run.run_id), inputs, unmapped(filter_path), unmapped(filter_id)
        ).result()
        run.counts = {"shards": len(inputs), "docs": sum(scored)}
    return run.run_id, sum(scored)


@flow(name="score", task_runner=task_runner(Runner.local))
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
    with writer_lock(root, wait=wait, command="curate score"):
        flt = the_filter(root, filter_id)
        if prefetch:
            prefetch_filter(flt[1], flt[0])
        shards = current_docs_shards(root)
        embed_run_id = embed_shards(root, "docs", shards, embed, wait)
        score_run_id, scored = score_shards(root, "docs", embed_run_id, flt, embed, wait)
    _, rows = query(root, "SELECT count(*) FILTER (WHERE keep) FROM scores_all WHERE run_id = ?", [score_run_id])
    return ScoreSummary(
        embed_run_id=embed_run_id,
        score_run_id=score_run_id,
        filter_id=flt[0],
        shards=len(shards),
        docs=scored,
        kept=rows[0][0],
    )
