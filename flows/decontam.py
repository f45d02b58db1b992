"""Decontam flow: one `contamination` shard per shard of documents or generations (mapped tasks through the
shard mapper: resumable, and a rerun with the same settings over the same shards computes nothing), then
the per-benchmark removal table of the run."""

from __future__ import annotations

import time
from pathlib import Path

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from curators.decontam.benchsets import SETUP_HINT, available_benchmarks
from curators.decontam.config import DecontamConfig
from curators.decontam.store import decontam_shard, loaded_index, removals
from curators.errors import CurateError
from flows import processes, progress
from flows.runners import Runner, shard_processes, task_runner
from warehouse.listings import FIRST_RUN, TextTable, text_shards
from warehouse.lock import writer_lock
from warehouse.runs import open_run


class DecontamRunConfig(BaseModel):
    target: str
    decontam: DecontamConfig


class DecontamSummary(BaseModel):
    run_id: str
    target: str
    shards: int
    shards_computed: int  # the others were done by this run before (resumed) and reused
    checked: int  # documents, or ok generations
    flagged: int  # of them, holding at least one benchmark item
    removals: list[dict]  # per benchmark: flagged, items_matched, benchmark_items
    seconds: float


@task(name="decontam-shard", cache_policy=NO_CACHE, retries=1)
def decontam_task(
    data_root: str, run_id: str, target: str, shard: str, config: DecontamConfig
) -> tuple[int, int, bool]:
    checked, flagged, mapped = processes.call(run_id, decontam_shard, Path(data_root), run_id, target, shard, config)
    report = progress.get("decontam", data_root)
    if report is not None:
        report(1, checked)
    return checked, flagged, mapped.computed


def decontam_inputs(root: Path, target: TextTable) -> list[str]:
    """The shards to check; a clear error when there are none."""
    shards = text_shards(root, target)
    if not shards:
        raise CurateError(
            f"nothing to decontaminate: no {target} yet",
            hint=FIRST_RUN[target],
        )
    return shards


def sets_missing(config: DecontamConfig) -> str | None:
    """Why there is nothing to check against (no set installed and none given), or None."""
    if config.benchmarks is None and not config.extra_jsonl and not available_benchmarks():
        return f"no benchmark sets installed ({SETUP_HINT})"
    return None


@flow(name="decontam", task_runner=task_runner(Runner.local))
def decontam_flow(
    data_root: str,
    config: DecontamConfig,
    target: TextTable = "docs",
    wait: float | None = None,
    workers: int | None = None,
) -> DecontamSummary:
    """Find benchmark items in every shard of `target`; write `contamination` rows (nothing is deleted:
    `curated` leaves contaminated documents out, `synthetic` marks such generations not usable). `workers`:
    processes that check the shards (default: one per core when there is enough to check; 0: the task threads);
    each reads the index the flow built (or found) in the on-disk cache."""
    root = Path(data_root).resolve()
    started = time.monotonic()
    with writer_lock(root, wait=wait, command="curate decontam"):
        shards = decontam_inputs(root, target)
        config_json = config.model_dump_json()
        sizes = loaded_index(config_json).sizes()
        run_config = DecontamRunConfig(target=target, decontam=config)
        with open_run(root, "decontam", run_config, wait=wait) as run:
            asked = shard_processes(root, run.run_id, "contamination", shards, config_json, asked=workers)
            with processes.open_pool(run.run_id, asked, processes.PRELOAD["decontam"]):
                done = decontam_task.map(
                    unmapped(str(root)), unmapped(run.run_id), unmapped(target), shards, unmapped(config)
                ).result()
            run.counts = {
                "shards": len(shards),
                "checked": sum(c for c, _, _ in done),
                "flagged": sum(f for _, f, _ in done),
            }
        table = removals(root, target, sizes)
    return DecontamSummary(
        run_id=run.run_id,
        target=target,
        shards=len(shards),
        shards_computed=sum(computed for _, _, computed in done),
        checked=run.counts["checked"],
        flagged=run.counts["flagged"],
        removals=table,
        seconds=round(time.monotonic() - started, 2),
    )
