"""Worker processes for a flow's CPU-bound units: a task (on Prefect's thread pool) hands its unit to a process
of a pool the flow opened, waits for it, and relays its progress; so a flow uses every core, not one core's
worth of threads under the GIL.

- The pool is opened by the flow (`open_pool`) and looked up by key (`get`), like `flows.progress`: tasks
  receive only ids and configs. A task that runs elsewhere (a Dask worker) finds no pool: it runs its unit
  itself, in its own (worker) process.
- Workers start by forkserver (Linux and macOS): each is forked from a clean server process that imported the
  preloaded modules once (not from the flow's process, whose threads and locks a plain fork would copy).
- A unit's error is the error of its task alone. A worker that dies (killed, out of memory) breaks the pool
  for every unit in it: the pool is replaced, and each of those units is run again in a process of its own,
  so only the unit that killed its process fails (the others resume from their last checkpoint).
- Progress: the function gets a `progress(*args)` that sends to the flow's process, where it is passed to the
  task's callback.

This module imports neither Prefect nor the stage libraries: a worker imports only what its function needs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import itertools
import multiprocessing
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from typing import Any

# What the workers of each stage import once, in their forkserver (not each worker): the stage's library; and
# pandas where that library builds Arrow tables from Python values (`pa.table`, `pa.array`), which makes pyarrow
# import pandas on its first call: ~0.5 s in every worker otherwise. Ingest builds its columns from buffers.
PRELOAD: dict[str, list[str]] = {
    "ingest": ["curators.ingest.store"],
    "quality": ["curators.heuristics.store", "pandas"],
    "dedup": ["curators.dedup.store", "pandas"],
    "decontam": ["curators.decontam.store", "pandas"],
}

_pools: dict[str, WorkerPool] = {}
_queue: Any = None  # in a worker: the queue its progress goes to
END = "end"  # a call's last progress message


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _context() -> multiprocessing.context.BaseContext:
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _set_preload(ctx: multiprocessing.context.BaseContext, preload: list[str]) -> bool:
    """Have the forkserver import `preload` (those that exist) when it starts; False without a forkserver."""
    if ctx.get_start_method() != "forkserver":
        return False
    ctx.set_forkserver_preload([m for m in preload if importlib.util.find_spec(m)])
    return True


def start_forkserver(stages: list[str]) -> None:
    """Start the workers' forkserver now, importing the libraries of `stages` (PRELOAD), instead of when a flow
    opens its first pool. A command calls this before it imports Prefect (~1.5 s): the forkserver's start and
    imports (~0.5-0.8 s: the command's main module, then the libraries) then run on another core meanwhile, and
    the pool's workers fork from it at once. Nothing starts without a forkserver (spawn), and a command that runs
    its units in threads leaves the server idle; it exits with the command."""
    ctx = _context()
    if _set_preload(ctx, [m for stage in stages for m in PRELOAD.get(stage, [])]):
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _init_worker(queue: Any) -> None:
    global _queue
    _queue = queue


def _post(token: int, *args: Any) -> None:
    _queue.put((token, args))


def _call(token: int, fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any], progress: bool) -> Any:
    """Run in a worker: `fn(*args, **kwargs)`, with `progress=` a sender to the flow's process when asked."""
    try:
        if progress:
            kwargs = {**kwargs, "progress": partial(_post, token)}
        return fn(*args, **kwargs)
    finally:
        _queue.put((token, END))


class WorkerPool:
    """A process pool whose calls block their (task) thread, relay progress, and fail alone."""

    def __init__(self, workers: int, preload: list[str] | None = None) -> None:
        self.workers = max(1, workers)
        self._ctx = _context()
        _set_preload(self._ctx, preload or [])  # (no effect once the forkserver runs: `start_forkserver`)
        self._queue = self._ctx.Queue()
        self._lock = threading.Lock()
        self._executor = self._new_executor(self.workers)
        self._tokens = itertools.count()
        self._callbacks: dict[int, Callable[..., None] | None] = {}
        self._ended: dict[int, threading.Event] = {}
        self._relay = threading.Thread(target=self._relay_progress, name="worker-progress", daemon=True)
        self._relay.start()

    def _new_executor(self, workers: int) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(workers, mp_context=self._ctx, initializer=_init_worker, initargs=(self._queue,))

    def warm_up(self) -> None:
        """Start the worker processes now (they start on first use otherwise)."""
        for future in [self._executor.submit(os.getpid) for _ in range(self.workers)]:
            with contextlib.suppress(BrokenProcessPool):
                future.result()

    def _relay_progress(self) -> None:
        while True:
            message = self._queue.get()
            if message is None:
                return
            token, args = message
            if args == END:
                event = self._ended.get(token)
                if event is not None:
                    event.set()
                continue
            callback = self._callbacks.get(token)
            if callback is not None:
                with contextlib.suppress(Exception):  # a progress bar never fails a unit
                    callback(*args)

    def run(
        self, fn: Callable[..., Any], *args: Any, progress: Callable[..., None] | None = None, **kwargs: Any
    ) -> Any:
        """`fn(*args, **kwargs)` in a worker process (`fn` importable by name; arguments and result picklable),
        with `progress=` relayed to `progress` when one is given. Raises what `fn` raised."""
        token = next(self._tokens)
        self._callbacks[token] = progress
        self._ended[token] = threading.Event()
        try:
            executor = self._executor
            try:
                result = executor.submit(_call, token, fn, args, kwargs, progress is not None).result()
            except BrokenProcessPool:
                # A worker died: maybe this unit's, maybe a neighbour's. Replace the pool, and run this unit again
                # alone, so that only the unit that kills its process fails.
                self._replace(executor)
                with self._new_executor(1) as alone:
                    result = alone.submit(_call, token, fn, args, kwargs, progress is not None).result()
            self._ended[token].wait(timeout=5)  # its last progress messages are passed on before it returns
            return result
        finally:
            self._callbacks.pop(token, None)
            self._ended.pop(token, None)

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        with self._lock:
            if self._executor is broken:
                broken.shutdown(wait=False, cancel_futures=True)
                self._executor = self._new_executor(self.workers)

    def close(self, terminate: bool = False) -> None:
        """Stop the workers; `terminate` ends running units at once (their finished checkpoints are kept)."""
        executor = self._executor
        if terminate:
            # ProcessPoolExecutor has no way to stop a running call before Python 3.14 (`terminate_workers`).
            for process in list(getattr(executor, "_processes", {}).values()):
                with contextlib.suppress(Exception):
                    process.terminate()
        executor.shutdown(wait=not terminate, cancel_futures=True)
        self._queue.put(None)
        self._relay.join(timeout=5)
        self._queue.close()


@contextlib.contextmanager
def open_pool(key: str, workers: int, preload: list[str] | None = None) -> Iterator[WorkerPool | None]:
    """A pool of `workers` processes (`preload`: modules its workers import once, by forkserver), found by
    `get(key)` until the block ends; None (nothing opened) for `workers` 0: units run in their tasks' threads."""
    if workers <= 0:
        yield None
        return
    pool = WorkerPool(workers, preload)
    _pools[key] = pool
    threading.Thread(target=pool.warm_up, name="worker-start", daemon=True).start()  # while the flow plans its tasks
    ok = False
    try:
        yield pool
        ok = True
    finally:
        _pools.pop(key, None)
        pool.close(terminate=not ok)


def get(key: str) -> WorkerPool | None:
    """The pool open under `key` in this process, or None."""
    return _pools.get(key)


def call(
    key: str, fn: Callable[..., Any], *args: Any, progress: Callable[..., None] | None = None, **kwargs: Any
) -> Any:
    """`fn(*args, **kwargs)` in a worker of the pool open under `key`; here, in this thread, when there is none
    (few units, or a task on a Dask worker)."""
    pool = get(key)
    if pool is None:
        return fn(*args, **kwargs) if progress is None else fn(*args, progress=progress, **kwargs)
    return pool.run(fn, *args, progress=progress, **kwargs)
