"""Worker processes for a flow's units (`flows.processes`): results and errors come back to the calling task,
progress is relayed, and a unit that kills its process fails alone."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import pytest

from flows import processes


def square(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


def fails(x: int) -> None:
    raise ValueError(f"bad input {x}")


def reports(n: int, progress: Callable[..., None]) -> int:
    for i in range(n):
        progress(i, 10 * i)
    return n


def dies_or_sleeps(x: int) -> int:
    if x == 0:
        time.sleep(0.5)  # its neighbours are running when it dies
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(1.0)
    return x


def test_calls_run_in_worker_processes_and_errors_come_back() -> None:
    with processes.open_pool("k", 2) as pool:
        assert processes.get("k") is pool
        values = [pool.run(square, x) for x in range(4)]
        assert [v for v, _ in values] == [0, 1, 4, 9]
        assert {pid for _, pid in values} - {os.getpid()}  # not this process
        with pytest.raises(ValueError, match="bad input 3"):
            pool.run(fails, 3)
        assert pool.run(square, 5)[0] == 25  # an error is its call's alone
        seen: list[tuple] = []
        assert pool.run(reports, 5, progress=lambda *a: seen.append(a)) == 5
        assert seen == [(i, 10 * i) for i in range(5)]  # all of it, in order, before the call returns
    assert processes.get("k") is None


def test_no_workers_asked_opens_no_pool() -> None:
    with processes.open_pool("none", 0) as pool:
        assert pool is None and processes.get("none") is None


def test_a_call_that_kills_its_worker_fails_alone() -> None:
    with processes.open_pool("crash", 2) as pool, ThreadPoolExecutor(4) as threads:
        futures = {x: threads.submit(pool.run, dies_or_sleeps, x) for x in range(4)}
        with pytest.raises(BrokenProcessPool):
            futures[0].result(timeout=120)
        assert [futures[x].result(timeout=120) for x in (1, 2, 3)] == [1, 2, 3]
        assert pool.run(square, 3)[0] == 9  # the pool works on


EARLY_FORKSERVER = """
import psutil
from flows import processes

def forkservers():
    return [p.pid for p in psutil.Process().children() if "forkserver" in " ".join(p.cmdline())]

processes.start_forkserver(["dedup"])
started = forkservers()
print("forkserver before any pool:", len(started))
with processes.open_pool("k", 1, processes.PRELOAD["dedup"]) as pool:
    wanted = "('curators.dedup.store', 'pandas')"
    print("worker has:", pool.run(eval, f"sorted(m for m in {wanted} if m in __import__('sys').modules)"))
    print("same forkserver:", forkservers() == started)
"""


def test_a_command_starts_the_forkserver_early_with_its_stage_libraries_and_pandas() -> None:
    """`start_forkserver` (called by a stage command before it imports Prefect) starts the server at once; the
    pool the flow opens later forks its workers from it, with the stage's library and pandas already imported
    (pyarrow imports pandas on its first `pa.table`: once there, not in each worker)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", EARLY_FORKSERVER], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "forkserver before any pool: 1",
        "worker has: ['curators.dedup.store', 'pandas']",
        "same forkserver: True",
    ]
