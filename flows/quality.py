"""Quality flow: the heuristic rules and language ID over every current docs shard, one `quality` shard per
docs shard (tasks mapped, resumable: a rerun computes only new shards, or all of them when a threshold
changed). Runs on Prefect's thread pool by default, or on a Dask cluster (`flows.runners`)."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from curators.heuristics.config import Policies, QualityConfig
from curators.heuristics.store import depends_on, quality_shard, quality_totals
from flows import processes
from flows.runners import Runner, shard_processes, task_runner
from warehouse.listings import current_docs_shards
from warehouse.lock import writer_lock
from warehouse.runs import open_run


class QualitySummary(BaseModel):
    run_id: str
    shards: int
    computed: int  # shards computed now (the others were done)
    docs: int
    passed: int  # passed every rule of their profile
    lang_ok: int
    kept: int  # both


class QualityRunConfig(BaseModel):
    quality: QualityConfig
    policies: Policies


@task(name="quality-shard", cache_policy=NO_CACHE, retries=1)
def quality_task(data_root: str, run_id: str, shard: str, config: QualityConfig, policies: Policies) -> bool:
    """Returns whether the shard was computed now (False: it was done)."""
    return processes.call(run_id, quality_shard, Path(data_root), run_id, shard, config, policies).computed


# The rules cost ~1 s per MB of text on a core: a shard or two of any size are worth a process each.
PROCESS_MIN_BYTES = 1024 * 1024


def _processes(
    root: Path, run_id: str, shards: list[str], config: QualityConfig, policies: Policies, asked: int | None
) -> int:
    rules = depends_on(config, policies)
    return shard_processes(root, run_id, "quality", shards, rules, min_bytes=PROCESS_MIN_BYTES, asked=asked)


@flow(name="quality", task_runner=task_runner(Runner.local))
def quality_flow(
    data_root: str, config: QualityConfig, policies: Policies, wait: float | None = None, workers: int | None = None
) -> QualitySummary:
    """Check every current document with the rules of its source's profile and identify its language. `workers`:
    processes that check the shards (default: one per core when there is enough to check; 0: the task threads)."""
    root = Path(data_root).resolve()
    with writer_lock(root, wait=wait, command="curate quality"):
        shards = current_docs_shards(root)
        with (
            open_run(root, "quality", QualityRunConfig(quality=config, policies=policies), wait=wait) as run,
            processes.open_pool(
                run.run_id,
                _processes(root, run.run_id, shards, config, policies, workers),
                processes.PRELOAD["quality"],
            ),
        ):
            computed = quality_task.map(
                unmapped(str(root)), unmapped(run.run_id), shards, unmapped(config), unmapped(policies)
            ).result()
            run.counts = {"shards": len(shards), "computed": sum(computed)}
        totals = quality_totals(root)
    return QualitySummary(
        run_id=run.run_id,
        shards=len(shards),
        computed=sum(computed),
        docs=totals.checked,
        passed=totals.passed,
        lang_ok=totals.lang_ok,
        kept=totals.kept,
    )
