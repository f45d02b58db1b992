"""Where a flow's mapped tasks run: Prefect's thread pool (default), or a Dask cluster."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from enum import StrEnum
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
