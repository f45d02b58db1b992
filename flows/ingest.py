"""Ingest flow: plan the units of the configured sources (a large JSON Lines file is several units, byte ranges),
map one task per unit, each run in a worker process (`flows.processes`), record the run."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import BaseModel

from curators.ingest.config import IngestConfig
from curators.ingest.plan import InputUnit, plan_units
from curators.ingest.store import UnitResult, ingest_unit
from flows import processes, progress
from flows.runners import worker_processes
from warehouse.catalog import query
from warehouse.runs import open_run

IO_RETRIES = 2


def _retry_on_io_error(task, task_run, state) -> bool:  # noqa: ANN001 - Prefect's callback signature
    """Retry a unit only for I/O errors (a flaky disk or network mount); a bug fails at once."""
    try:
        state.result()
    except OSError:
        return True
    except BaseException:
        return False
    return False


@task(
    name="ingest-unit",
    retries=IO_RETRIES,
    retry_delay_seconds=[1, 5],
    retry_condition_fn=_retry_on_io_error,
    # The done-markers of the unit's shards are the cache: a rerun resumes from them.
    cache_policy=NO_CACHE,
    task_run_name="ingest-unit-{unit.index}",
)
def ingest_unit_task(unit: InputUnit, data_root: str, run_id: str, config: IngestConfig) -> UnitResult:
    report = progress.get("ingest", data_root)
    pool = processes.get(run_id)
    if pool is None:  # threads (a small input), or this task runs on a Dask worker: here, in this process
        return ingest_unit(unit, Path(data_root), run_id, config, progress=report)
    return pool.run(ingest_unit, unit, Path(data_root), run_id, config, progress=report)


class IngestSummary(BaseModel):
    run_id: str
    units: int
    units_skipped: int  # already finished by an earlier (resumed) run
    units_failed: list[str]
    seen: int
    ingested: int
    rejected: int
    rejects_by_reason: dict[str, int]
    files_not_read: dict[str, int]  # files of folder sources with other extensions, by extension
    status: str


# Units run in worker processes, one per core (parsing, hashing and Arrow conversion hold the GIL: threads
# shared one core); each task's thread waits for its unit's process. Memory stays bounded: each process
# buffers up to one shard. An input this small runs in the threads (starting processes costs more).
WORKERS = processes.cores()


@flow(name="ingest", task_runner=ThreadPoolTaskRunner(max_workers=WORKERS), log_prints=True)
def ingest_flow(
    data_root: str,
    config: IngestConfig,
    fresh: bool = False,
    wait: float | None = None,
    workers: int | None = None,
) -> IngestSummary:
    """Read every configured source into `docs` and `rejects` shards under `data_root`. `workers`: processes
    for the units (default: one per core, for an input of 16 MiB or more); 0 runs them in threads."""
    plan = plan_units(config, cores=WORKERS)
    root = str(Path(data_root).resolve())
    with (
        open_run(Path(root), "ingest", config, fresh=fresh, wait=wait) as run,
        processes.open_pool(
            run.run_id, worker_processes(plan.n_bytes, len(plan.units), workers), processes.PRELOAD["ingest"]
        ),
    ):
        futures = ingest_unit_task.map(plan.units, unmapped(root), unmapped(run.run_id), unmapped(config))
        results: list[UnitResult] = []
        failed: list[str] = []
        for unit, future in zip(plan.units, futures, strict=True):
            future.wait()
            state = future.state
            if state.is_completed():
                results.append(future.result())
            else:
                error = state.result(raise_on_failure=False)
                failed.append(f"unit {unit.index} ({unit.paths[0]}...): {error}")
        run.counts = {
            "units": len(plan.units),
            "units_skipped": sum(r.skipped for r in results),
            "units_failed": len(failed),
            "seen": sum(r.seen for r in results),
            "ingested": sum(r.ingested for r in results),
            "rejected": sum(r.rejected for r in results),
        }
        if failed:
            run.status = "failed"
            run.error = f"{len(failed)} of {len(plan.units)} units failed (rerun to retry them): " + "; ".join(
                failed[:5]
            )
    _, rows = query(
        Path(root),
        "SELECT reason, count(*) FROM rejects_all WHERE run_id = ? GROUP BY 1 ORDER BY 2 DESC",
        [run.run_id],
    )
    return IngestSummary(
        run_id=run.run_id,
        units=len(plan.units),
        units_skipped=run.counts["units_skipped"],
        units_failed=failed,
        seen=run.counts["seen"],
        ingested=run.counts["ingested"],
        rejected=run.counts["rejected"],
        rejects_by_reason=dict(rows),
        files_not_read=plan.skipped,
        status=run.status,
    )
