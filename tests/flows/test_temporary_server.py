"""A stage command's temporary Prefect API (`flows.temporary_server`): started before the
command imports Prefect, used once it answers, never in place of an API the user named, and gone with the command
even when the command is killed. Each case runs in a process of its own (Prefect's settings are per process)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from flows.env import api_answers


def run_script(script: str, env: dict[str, str] | None = None) -> list[str]:
    base = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**base, **(env or {})}, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()


FLOW_ON_IT = """
from flows.env import tune_flow_runs
from flows.temporary_server import TemporaryServer, use_api

server = TemporaryServer()
tune_flow_runs()  # imports Prefect, while the server starts
print(use_api(server))
from prefect import flow
from prefect.settings import get_current_settings

@flow
def probe() -> str:
    from prefect.runtime import flow_run
    return flow_run.id

print(get_current_settings().api.url == server.url)
print(server.url)
import httpx

print(httpx.get(f"{server.url}/flow_runs/{probe()}").json()["state"]["type"])  # the run, as that server has it
"""


def test_flows_run_on_the_temporary_server_once_it_answers() -> None:
    used, settings_point_at_it, url, state = run_script(FLOW_ON_IT)
    assert used == "True" and settings_point_at_it == "True" and state == "COMPLETED"
    assert not api_answers(url, timeout=1.0)  # it stopped with the process


NOT_IN_PLACE_OF = """
from flows.temporary_server import TemporaryServer, use_api
from prefect.settings import get_current_settings

server = TemporaryServer()
if {kill}:
    server.process.kill()  # a server that never answers
print(use_api(server))
print(server.process is None)  # stopped
print(get_current_settings().api.url)
"""


def test_an_api_named_in_a_prefect_profile_is_kept(tmp_path: Path) -> None:
    profiles = tmp_path / "profiles.toml"
    profiles.write_text('active = "mine"\n\n[profiles.mine]\nPREFECT_API_URL = "http://127.0.0.1:9/api"\n')
    lines = run_script(NOT_IN_PLACE_OF.format(kill=False), {"PREFECT_PROFILES_PATH": str(profiles)})
    assert lines == ["False", "True", "http://127.0.0.1:9/api"]


def test_a_server_that_does_not_answer_leaves_prefect_its_own_ephemeral_api() -> None:
    assert run_script(NOT_IN_PLACE_OF.format(kill=True)) == ["False", "True", "None"]


KILLED = """
import time
from flows.temporary_server import TemporaryServer

server = TemporaryServer()
assert server.wait()
print(server.process.pid, server.url, flush=True)
time.sleep(300)
"""


def test_a_killed_command_leaves_no_server_behind() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    command = subprocess.Popen([sys.executable, "-c", KILLED], stdout=subprocess.PIPE, text=True, env=env)
    try:
        pid, url = command.stdout.readline().split()  # the server answers, and the command is alive
        assert api_answers(url) and command.poll() is None
        command.send_signal(signal.SIGKILL)  # no exit handler runs
        assert command.wait(timeout=10) == -signal.SIGKILL
        deadline = time.monotonic() + 15
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not Path(f"/proc/{pid}").exists(), "the server outlived its command"
        try:
            httpx.get(f"{url}/health", timeout=1.0)
        except httpx.TransportError:
            pass
        else:
            raise AssertionError("the server still answers")
    finally:
        command.kill()
