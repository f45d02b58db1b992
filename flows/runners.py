"""Where a flow's mapped tasks run: Prefect's thread pool (default), or a Dask cluster."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from enum import StrEnum
from pathlib import Path
from typing import Any


class Runner(StrEnum):
    local = "local"
    dask = "dask"


def task_runner(runner: Runner | str = Runner.local, address: str | None = None) -> Any:
    """A Prefect task runner: threads, one per core; or prefect-dask's DaskTaskRunner, on the scheduler at
    `address` or on a LocalCluster of one process per core."""
    if Runner(runner) is Runner.dask:
        from prefect_dask import DaskTaskRunner

        if address:
            return DaskTaskRunner(address=address)
        workers = len(os.sched_getaffinity(0))
        return DaskTaskRunner(cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True})
    from prefect.task_runners import ThreadPoolTaskRunner

    return ThreadPoolTaskRunner(max_workers=len(os.sched_getaffinity(0)))


# CPU-bound units (parsing, hashing, shingling hold the GIL) run in worker processes (`flows.processes`), one per
# core, once there is this much input for them: below it, starting the processes costs more than it saves.
PROCESS_MIN_BYTES = 16 * 1024 * 1024
# The same for a map stage over Parquet shards (compressed: ~3x the text), unless the stage says otherwise.
SHARD_PROCESS_MIN_BYTES = 4 * 1024 * 1024


def worker_processes(n_bytes: int, units: int, asked: int | None = None, min_bytes: int = PROCESS_MIN_BYTES) -> int:
    """Worker processes for a flow's CPU-bound units: `asked`, or one per core for `n_bytes` of `min_bytes` or
    more; 0 (run them in the task threads) under a Dask runner, whose workers are processes already. Never more
    than the units."""
    from prefect.context import FlowRunContext
    from prefect.task_runners import ThreadPoolTaskRunner

    context = FlowRunContext.get()
    if context is not None and not isinstance(context.task_runner, ThreadPoolTaskRunner):
        return 0
    if asked is None:
        asked = len(os.sched_getaffinity(0)) if n_bytes >= min_bytes else 0
    return min(asked, units)


def shard_processes(
    root: Path,
    run_id: str,
    table: str,
    shards: list[str],
    depends_on: str,
    min_bytes: int | None = None,
    asked: int | None = None,
) -> int:
    """Worker processes for mapping `shards` into `table` (`warehouse.mapper`): `asked` (0: the task threads), or
    one per core when two shards or more are not done yet in run `run_id` and they hold `min_bytes` (default
    SHARD_PROCESS_MIN_BYTES) or more; else 0: one shard gains nothing from a process of its own."""
    from warehouse.mapper import is_mapped

    pending = [s for s in shards if not is_mapped(root, run_id, table, s, depends_on)]
    if len(pending) < (1 if asked else 2):
        return 0
    n_bytes = sum(Path(s).stat().st_size for s in pending)
    threshold = SHARD_PROCESS_MIN_BYTES if min_bytes is None else min_bytes
    return worker_processes(n_bytes, len(pending), asked, min_bytes=threshold)


def on_cluster(stage_flow: Any, address: str | None) -> Any:
    """`stage_flow` with its mapped tasks on the Dask scheduler at `address`; itself when there is none."""
    return stage_flow if address is None else stage_flow.with_options(task_runner=task_runner(Runner.dask, address))


@contextlib.contextmanager
def dask_cluster(runner: Runner | str, address: str | None) -> Iterator[str | None]:
    """The scheduler address the stages of one run share: `address`, or a LocalCluster (one process per core)
    started here and closed at the end, so a run of several stages starts its workers once. None locally."""
    if Runner(runner) is not Runner.dask:
        yield None
        return
    if address:
        yield address
        return
    from distributed import LocalCluster

    workers = len(os.sched_getaffinity(0))
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        yield cluster.scheduler_address


def dask_workers() -> dict[str, int]:
    """The workers (address -> threads) of the Dask cluster the current flow run maps its tasks on; {} when its
    task runner is not Dask (or no flow runs)."""
    from prefect.context import FlowRunContext

    context = FlowRunContext.get()
    runner = getattr(context, "task_runner", None)
    if runner is None or type(runner).__name__ != "DaskTaskRunner":
        return {}
    workers = runner.client.scheduler_info()["workers"]
    return {address: int(info.get("nthreads", 1)) for address, info in sorted(workers.items())}


def on_this_machine(addresses: list[str]) -> bool:
    """Whether every worker address is a loopback one (a LocalCluster, or workers started on this machine on
    127.0.0.1): only such workers reach a server that listens on loopback, like the embedded LLM endpoint."""
    from urllib.parse import urlparse

    return bool(addresses) and all(urlparse(a).hostname in ("127.0.0.1", "localhost", "::1") for a in addresses)
