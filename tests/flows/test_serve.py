"""Scheduled deployments: prefect.yaml agrees with the defaults of `serve.deployments`; a scheduled run that
finds the warehouse being written ends Cancelled naming the writer; and `curate serve` for real: a Prefect
server it starts, an interval deployment over a small corpus run twice (the second run redoes nothing), a
crash that leaves late runs (one catch-up run, not a burst), and a Ctrl-C that pauses the schedule and
leaves no process behind."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from curators.child_processes import free_port
from curators.serve.config import ServeConfig
from warehouse.catalog import query

REPO = Path(__file__).resolve().parents[2]


def test_prefect_yaml_matches_the_default_deployments() -> None:
    from prefect.flows import load_flow_from_entrypoint

    from flows.serve import scheduled_job

    spec = yaml.safe_load((REPO / "prefect.yaml").read_text())
    defaults = ServeConfig().deployments
    assert {d["name"] for d in spec["deployments"]} == set(defaults)
    for d in spec["deployments"]:
        ours = defaults[d["name"]]
        assert load_flow_from_entrypoint(d["entrypoint"]).fn is scheduled_job.fn
        params = d["parameters"]
        assert params["job"] == ours.job and params.get("stages") == ours.stages
        assert d["schedules"] == [{"cron": ours.cron, "timezone": ours.timezone}]
        validated = scheduled_job.validate_parameters(params)  # the flow accepts them as they are
        assert {k: validated[k] for k in params} == params


@pytest.mark.usefixtures("prefect_harness")
def test_a_scheduled_run_that_finds_the_warehouse_busy_ends_cancelled_naming_the_writer(data_root: Path) -> None:
    from flows.serve import scheduled_job

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom pathlib import Path\nfrom warehouse.lock import writer_lock\n"
            "with writer_lock(Path(sys.argv[1]), command='curate ingest big.jsonl'):\n"
            "    print('held', flush=True)\n    time.sleep(120)\n",
            str(data_root),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        state = scheduled_job(job="curate", data_root=str(data_root), lock_wait_s=1.5, return_state=True)
        waited = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    assert state.is_cancelled(), state
    assert "curate ingest big.jsonl" in state.message and f"pid {holder.pid}" in state.message
    assert waited >= 1.5  # it waited (bounded) before giving up
    assert not (data_root / "tables" / "runs").exists()  # and wrote nothing


def deployment_runs(db: Path) -> list[tuple[str, str, str | None]]:
    """(state type, expected start, start) of every run of a deployment, from the server's own database."""
    with sqlite3.connect(db) as con:
        return con.execute(
            "SELECT state_type, expected_start_time, start_time FROM flow_run WHERE deployment_id IS NOT NULL "
            "ORDER BY expected_start_time"
        ).fetchall()


def wait_for(predicate, timeout: float, what: str) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(1)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.slow
def test_curate_serve_runs_a_schedule_resumes_catches_up_once_and_stops_paused(tmp_path: Path) -> None:
    root = tmp_path / "data"
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        "".join(json.dumps({"text": f"document {i} on subject {i % 4}. " * 40}) + "\n" for i in range(30))
    )
    config = tmp_path / "curate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "settings": {"data_root": str(root)},
                "ingest": {"sources": [{"path": str(corpus), "name": "web"}]},
                "run": {"label_n": 0, "report": False},
                "serve": {
                    "port": free_port(),
                    "lock_wait_s": 5,
                    "deployments": {"every-5s": {"job": "curate", "interval_s": 5, "stages": ["ingest", "dedup"]}},
                },
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    env |= {"PREFECT_HOME": str(tmp_path / "prefect-home"), "PREFECT_RUNNER_POLL_FREQUENCY": "2"}
    db = root / ".prefect" / "prefect.db"

    def start(log: Path) -> subprocess.Popen:
        with open(log, "w") as out:
            return subprocess.Popen(
                [sys.executable, "-m", "flows.cli", "-c", str(config), "serve"],
                env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path,
            )  # fmt: skip

    def completed() -> int:
        try:
            return sum(state == "COMPLETED" for state, _, _ in deployment_runs(db))
        except sqlite3.OperationalError:  # not created yet
            return 0

    groups: list[int] = []  # every process group this test starts, killed at the end whatever happens
    try:
        check_serve(start, completed, groups, tmp_path, root, db, env)
    finally:
        for pgid in groups:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)


def check_serve(start, completed, groups, tmp_path, root, db, env) -> None:  # noqa: ANN001
    # 1. `curate prefect start` leaves a server running for the data root (serve.port); `curate serve` uses it
    # and runs the interval deployment; two runs complete.
    started = subprocess.run(
        [sys.executable, "-m", "flows.cli", "-c", str(tmp_path / "curate.yaml"), "prefect", "start"],
        capture_output=True, text=True, timeout=180, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    groups.append(json.loads((root / ".prefect" / "server.json").read_text())["pid"])
    first = start(tmp_path / "serve-1.log")
    groups.append(first.pid)
    try:
        wait_for(lambda: completed() >= 2, 240, "two completed scheduled runs")
    except AssertionError:
        raise AssertionError((tmp_path / "serve-1.log").read_text()[-3000:]) from None
    # The second run redid nothing: one ingest run, one dedup run in the warehouse's `runs`.
    _, runs = query(root, "SELECT flow, count(*) FROM runs WHERE status = 'finished' GROUP BY 1 ORDER BY 1")
    assert dict(runs)["ingest"] == 1 and dict(runs)["dedup"] == 1, runs
    _, docs = query(root, "SELECT count(*) FROM docs")
    assert docs == [(30,)]
    server = json.loads((root / ".prefect" / "server.json").read_text())
    assert server["url"] in (tmp_path / "serve-1.log").read_text() and server["url"] in started.stdout

    # 2. A crash (SIGKILL: nothing paused) while the server goes on: scheduled runs turn late.
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    crashed_at = time.time()
    time.sleep(8)
    late = [
        r
        for r in deployment_runs(db)
        if r[0] == "SCHEDULED" and r[1] < time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    ]
    assert len(late) >= 2, late  # what a restart would otherwise run all at once

    # 3. A restart reuses the running server and runs at most one of the late runs.
    second = start(tmp_path / "serve-2.log")
    groups.append(second.pid)
    restarted = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
    wait_for(lambda: "serving every-5s" in (tmp_path / "serve-2.log").read_text(), 120, "the restart")
    log = (tmp_path / "serve-2.log").read_text()
    assert server["url"] in log and "started" not in log.splitlines()[0]  # the recorded server, reused
    assert "dropped" in log and "late runs" in log
    shown = subprocess.run(
        [sys.executable, "-m", "flows.cli", "-c", str(tmp_path / "curate.yaml"), "serve", "--status"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert shown.returncode == 0, shown.stderr
    assert "every-5s active every 5 s" in shown.stdout and "Completed" in shown.stdout, shown.stdout
    time.sleep(4)
    caught_up = [r for r in deployment_runs(db) if r[1] < restarted and r[2] is not None and r[2] >= restarted]
    assert len(caught_up) <= 1, caught_up

    # 4. Ctrl-C (SIGINT to its process group, as a terminal sends it): schedule paused, no process left.
    os.killpg(second.pid, signal.SIGINT)
    second.wait(timeout=60)
    wait_for(lambda: not group_alive(second.pid), 30, "the runs' processes to end")
    assert "paused: every-5s" in (tmp_path / "serve-2.log").read_text()
    with sqlite3.connect(db) as con:
        assert con.execute("SELECT name, paused FROM deployment").fetchall() == [("every-5s", 1)]
    assert [r for r in deployment_runs(db) if r[0] in ("SCHEDULED", "PENDING", "RUNNING")] == []
    # `curate serve` leaves the server it did not start running: `curate prefect stop` stops it.
    stopped = subprocess.run(
        [sys.executable, "-m", "flows.cli", "-c", str(tmp_path / "curate.yaml"), "prefect", "stop"],
        capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env,
    )  # fmt: skip
    assert stopped.returncode == 0 and f"pid {server['pid']}" in stopped.stdout, stopped.stdout + stopped.stderr
    wait_for(lambda: not group_alive(server["pid"]), 30, "the server to stop")
    assert not (root / ".prefect" / "server.json").exists()
    assert time.time() - crashed_at < 300


@pytest.mark.usefixtures("prefect_harness")
def test_the_synth_job_runs_its_steps_in_order_and_reports_a_step_with_nothing_to_do(
    data_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from flows.serve import scheduled_job
    from tests.fake_llm import FakeLLM
    from tests.flows.test_instruct_flow import scripted

    bench = tmp_path / "bench.jsonl"
    bench.write_text(json.dumps({"id": "q1", "text": "an item no instruction here holds " * 4}) + "\n")
    config = tmp_path / "curate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "instruct": {
                    "instructions": {"n": 8, "self_instruct": {"per_request": 4, "rounds": 1}},
                    "responses": {"per_instruction": 2},
                },
                "decontam": {"benchmarks": [], "extra_jsonl": [str(bench)]},
            }
        )
    )
    with FakeLLM(answer=scripted) as fake:
        monkeypatch.setenv("CURATE_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("CURATE_LLM_MODEL", "fake-model")
        done = scheduled_job(
            job="synth",
            config_path=str(config),
            data_root=str(data_root),
            stages=["exercises", "instructions", "responses"],
        )
    assert list(done) == ["exercises", "instructions", "responses"]  # in the job's order
    assert "no finished textbook run" in done["exercises"]["skipped"]  # nothing to write from: said, not fatal
    _, (usable,) = query(data_root, "SELECT count(*) FROM instruction_pool WHERE usable")
    assert usable[0] >= 4 and done["instructions"]["gates"] is not None  # the gates ran after the step
    _, (answered,) = query(data_root, "SELECT count(*) FROM responses WHERE status = 'ok'")
    assert answered[0] == 2 * usable[0]  # every usable instruction, twice
