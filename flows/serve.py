"""Scheduled deployments: `curate serve` registers the deployments of `serve.deployments` with a Prefect
server (the one at PREFECT_API_URL, one it started earlier for this data root, or a new one on loopback),
runs them until stopped, and pauses their schedules when it stops.

Why `serve` (Prefect's Runner in this process) rather than a `process` work pool and a worker: one command,
one process to stop, nothing else to install or keep running; the runner starts each scheduled run in a
process of its own, one at a time (`limit=1`: the warehouse has one writer anyway). A cluster user with a
work pool deploys the same flow from `prefect.yaml` (`prefect deploy --all`).

Measured with Prefect 3.8: a `serve` stopped by a signal left its schedules active and the server kept
creating runs; the next start launched every late run at once. Here the schedules are paused on every
stop (Ctrl-C, SIGTERM), and a start drops the late runs a crash left behind but the newest: at most one
catch-up run per deployment.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.states import Cancelled, Failed

from curators.config import CurateConfig, load_config
from curators.errors import ConfigError, CurateError, NothingToDo
from curators.serve.config import SYNTH_STEPS, DeploymentConfig, ServeConfig
from curators.serve.schedules import late_runs_to_drop
from flows.env import flow_settings
from flows.pipeline import pipeline_flow
from flows.prefect_server import find_server, start_server, stop_server
from flows.runners import dask_cluster
from warehouse.errors import WarehouseLocked
from warehouse.lock import writer_lock

TAG = "curate"


@flow(name="scheduled-job")
def scheduled_job(
    job: str,
    config_path: str | None = None,
    data_root: str | None = None,
    stages: list[str] | None = None,
    lock_wait_s: float = 600.0,
) -> Any:
    """A scheduled run of `job` (curate: the pipeline; synth: the synthetic data steps) with the configuration
    read from `config_path` when the run starts (so an edit of curate.yaml applies to the next run). A busy
    warehouse is waited for `lock_wait_s`, then the run ends Cancelled, naming the writer."""
    overrides = {"settings": {"data_root": data_root}} if data_root else None
    config = load_config(Path(config_path) if config_path else None, overrides)
    root = config.settings.data_root.resolve()
    config = config.model_copy(update={"settings": flow_settings(config.settings)})
    try:
        with writer_lock(root, wait=lock_wait_s, command=f"scheduled {job}"):
            if job == "curate":
                done = pipeline_flow(str(root), config, stages=stages)
                return Failed(message=done.failed, data=done) if done.failed else done
            with dask_cluster(config.run.runner, config.run.dask_address) as on:
                return synth_job(root, config, stages, dask_address=on)
    except WarehouseLocked as exc:
        get_run_logger().warning("not run: %s (waited %.0f s)", exc, lock_wait_s)
        return Cancelled(message=f"not run: {exc} (waited {lock_wait_s:.0f} s)")


def synth_job(
    root: Path, config: CurateConfig, steps: list[str] | None, dask_address: str | None = None
) -> dict[str, Any]:
    """The synthetic-data steps in order (each resumable, each with its gates; their LLM batches on the Dask
    scheduler at `dask_address` when there is one); a step with nothing to work on (no textbook to write
    exercises from, no usable instruction...) is reported, not fatal."""
    from flows.instruct import instruct_flow
    from flows.synth import synth_flow

    done: dict[str, Any] = {}
    for step in [s for s in SYNTH_STEPS if not steps or s in steps]:
        try:
            if step in ("textbooks", "exercises"):
                summary = synth_flow(
                    str(root), step, config.synth, config.llm, config.dedup, config.decontam, config.embed,
                    settings=config.settings, dask_address=dask_address,
                )  # fmt: skip
            else:
                summary = instruct_flow(
                    str(root), step, config.instruct, config.llm, config.dedup, config.decontam,
                    settings=config.settings, dask_address=dask_address,
                )  # fmt: skip
            done[step] = summary.model_dump(mode="json")
        except NothingToDo as exc:
            done[step] = {"skipped": exc.message}
    return done


# --- deployments ------------------------------------------------------------------------------------------


def deployment_parameters(
    deployment: DeploymentConfig, config_path: Path | None, data_root: Path, serve: ServeConfig
) -> dict[str, Any]:
    return {
        "job": deployment.job,
        "config_path": str(config_path.resolve()) if config_path else None,
        "data_root": str(data_root),
        "stages": deployment.stages,
        "lock_wait_s": serve.lock_wait_s,
    }


def runner_deployments(config: CurateConfig, config_path: Path | None) -> list[Any]:
    from prefect.deployments.runner import EntrypointType
    from prefect.schedules import Cron, Interval

    root = config.settings.data_root.resolve()
    made = []
    for name, d in config.serve.active().items():
        schedule = Cron(d.cron, timezone=d.timezone) if d.cron else Interval(timedelta(seconds=d.interval_s or 60))
        made.append(
            scheduled_job.to_deployment(
                name=name,
                schedule=schedule,
                parameters=deployment_parameters(d, config_path, root, config.serve),
                description=d.description or f"{d.job} job",
                tags=[TAG, f"data-root:{root}"],
                entrypoint_type=EntrypointType.MODULE_PATH,  # runs from any working directory
            )
        )
    return made


def runs_of(client: Any, deployment_id: Any, states: list[Any], sort: Any = None, limit: int = 200) -> list[Any]:
    """The flow runs of a deployment in one of `states` (Prefect `StateType`s)."""
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
    )

    return client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        flow_run_filter=FlowRunFilter(state=FlowRunFilterState(type=FlowRunFilterStateType(any_=states))),
        sort=sort,
        limit=limit,
    )


def drop_late_runs(client: Any, deployment_ids: list[Any]) -> int:
    """Delete every late Scheduled run of the deployments but the newest of each: one catch-up, no burst."""
    from prefect.client.schemas.objects import StateType

    dropped = 0
    now = datetime.now(UTC)
    for deployment_id in deployment_ids:
        runs = runs_of(client, deployment_id, [StateType.SCHEDULED])
        scheduled = [(r.id, r.expected_start_time) for r in runs if r.expected_start_time is not None]
        for run_id in late_runs_to_drop(scheduled, now):
            client.delete_flow_run(run_id)
            dropped += 1
    return dropped


def keep_dropping_late_runs(deployment_ids: list[Any], stop: threading.Event, every_s: float = 10.0) -> None:
    from prefect.client.orchestration import get_client

    while not stop.wait(every_s):
        try:
            with get_client(sync_client=True) as client:
                drop_late_runs(client, deployment_ids)
        except Exception:  # noqa: BLE001 - the server may be going away; the next turn tries again
            continue


def pause(client: Any, deployment_ids: list[Any]) -> list[str]:
    """Pause the deployments and clear what they left: Scheduled runs deleted (Prefect deletes them on pause,
    but not every time: seen with the SQLite database busy), runs stopped before they ended marked Cancelled.
    Returns the names that are paused now."""
    from prefect.client.schemas.objects import StateType

    names = []
    for deployment_id in deployment_ids:
        client.pause_deployment(deployment_id)
        left = runs_of(client, deployment_id, [StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING])
        for run in left:
            if run.state_type == StateType.SCHEDULED:
                client.delete_flow_run(run.id)
            else:
                client.set_flow_run_state(run.id, Cancelled(message="`curate serve` stopped"), force=True)
        d = client.read_deployment(deployment_id)
        if d.paused:
            names.append(d.name)
    return names


def stop_child_processes(spare: int | None, timeout_s: float = 15.0) -> int:
    """Stop the runs' processes still alive (a SIGTERM meant for `curate serve` alone does not reach them),
    sparing the server this process started (`spare`) and its own children. Returns how many were stopped."""
    import psutil

    me = psutil.Process()
    spared: set[int] = set()
    if spare is not None:
        with contextlib.suppress(psutil.NoSuchProcess):
            server = psutil.Process(spare)
            spared = {spare, *(p.pid for p in server.children(recursive=True))}
    left = [p for p in me.children(recursive=True) if p.pid not in spared]
    for p in left:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.terminate()
    _, alive = psutil.wait_procs(left, timeout=timeout_s)
    for p in alive:
        with contextlib.suppress(psutil.NoSuchProcess):
            p.kill()
    return len(left)


def serve(config: CurateConfig, config_path: Path | None, say: Any = print) -> None:
    """Register the active deployments and run them until Ctrl-C or SIGTERM; then pause their schedules and
    stop the server if this process started it."""

    active = config.serve.active()
    if not active:
        raise ConfigError("no active deployment in serve.deployments", hint="add one, or set active: true")
    root = config.settings.data_root.resolve()
    server = find_server(root) or start_server(root, config.serve)
    say(f"Prefect server {server.url}" + (" (started; stopped again on exit)" if server.started_here else ""))
    try:
        with api_at(server.url):
            _serve(config, config_path, say, server.process.pid if server.process else None)
    finally:
        stop_server(root, server)


@contextlib.contextmanager
def api_at(url: str) -> Iterator[None]:
    """Prefect's client, runner and the runs they start talk to the server at `url`."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    os.environ["PREFECT_API_URL"] = url  # the runs' processes inherit it
    with temporary_settings(updates={PREFECT_API_URL: url}):
        yield


def _serve(config: CurateConfig, config_path: Path | None, say: Any, server_pid: int | None) -> None:
    from prefect.client.orchestration import get_client
    from prefect.runner import Runner

    active = config.serve.active()

    class StoppableRunner(Runner):
        def handle_sigterm(self, *args: Any, **kwargs: Any) -> None:
            raise KeyboardInterrupt  # as Ctrl-C: out of the event loop, which cancels the runner's tasks

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    # Our own SIGINT handler: asyncio's would only cancel the runner's main task, which the runner survives
    # (seen: runs kept starting after Ctrl-C).
    previous = signal.signal(signal.SIGINT, interrupt)
    ids: list[Any] = []
    stop_dropping: threading.Event | None = None
    try:
        runner = StoppableRunner(name=f"curate-serve-{os.getpid()}", pause_on_shutdown=True, limit=1)
        for deployment in runner_deployments(config, config_path):
            ids.append(runner.add_deployment(deployment))
        with get_client(sync_client=True) as client:
            dropped = drop_late_runs(client, ids)
        if dropped:
            say(f"dropped {dropped} late runs left by an earlier stop: at most one catch-up run per deployment")
        # The server's scheduler may still fill in runs missed while nothing served (it does so after a
        # resume), and runs queue up while one longer than its interval runs: keep only the newest late one.
        stop_dropping = threading.Event()
        context = contextvars.copy_context()  # the API URL of `api_at`
        threading.Thread(target=context.run, args=(keep_dropping_late_runs, ids, stop_dropping), daemon=True).start()
        for name, d in active.items():
            every = f"cron '{d.cron}' ({d.timezone})" if d.cron else f"every {d.interval_s:g} s"
            say(f"serving {name}: {d.job} job, {every}")
        say("Ctrl-C stops (the schedules are paused)")
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(runner.start())
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        if stop_dropping is not None:
            stop_dropping.set()
        stopped = stop_child_processes(server_pid)
        if stopped:
            say(f"stopped {stopped} processes of runs in progress")
        if ids:
            with get_client(sync_client=True) as client:
                paused = pause(client, ids)
            say(f"paused: {', '.join(paused) or 'none'}")


def describe_schedule(schedule: Any) -> str:
    if getattr(schedule, "cron", None):
        return f"cron '{schedule.cron}' ({schedule.timezone or 'UTC'})"
    if getattr(schedule, "interval", None):
        return f"every {schedule.interval.total_seconds():g} s"
    return str(schedule)


def status(config: CurateConfig, runs: int = 3) -> list[dict[str, Any]]:
    """Each deployment of this data root: paused or not, its schedule, next runs and last runs' states."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterTags
    from prefect.client.schemas.objects import StateType
    from prefect.client.schemas.sorting import FlowRunSort

    root = config.settings.data_root.resolve()
    server = find_server(root)
    if server is None:
        raise CurateError("no Prefect server is running for this data root", hint="start one with `curate serve`")
    ended = [StateType.COMPLETED, StateType.FAILED, StateType.CANCELLED, StateType.CRASHED]
    out = []
    with api_at(server.url), get_client(sync_client=True) as client:
        found = client.read_deployments(
            deployment_filter=DeploymentFilter(tags=DeploymentFilterTags(all_=[TAG, f"data-root:{root}"]))
        )
        for d in sorted(found, key=lambda d: d.name):
            upcoming = runs_of(client, d.id, [StateType.SCHEDULED], FlowRunSort.EXPECTED_START_TIME_ASC, runs)
            last = runs_of(client, d.id, ended, FlowRunSort.START_TIME_DESC, runs)
            out.append(
                {
                    "name": d.name,
                    "paused": d.paused,
                    "schedules": [describe_schedule(s.schedule) for s in d.schedules],
                    "next": [r.expected_start_time.isoformat() for r in upcoming if r.expected_start_time],
                    "last": [
                        {"name": r.name, "state": r.state_name, "start": r.start_time and r.start_time.isoformat()}
                        for r in last
                    ],
                    "server": server.url,
                }
            )
    return out
