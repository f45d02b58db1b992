"""The Prefect server of a data root: what `prefect server start` runs (Prefect's API app and its services, in
uvicorn), with Prefect's app behind the fixes for SQLite's locks of `flows.prefect_app`, on loopback; its SQLite
database and log under <data root>/.prefect, recorded in <data root>/.prefect/server.json so that stage commands
(flows/env.py), `curate serve` and `curate prefect stop` find it. Started by `curate serve` (stopped again when it
ends) or by `curate prefect start` (left running: every stage command of the data root then skips starting a
temporary API, ~4 s each on 2 cores). This module imports no Prefect: the server is a child process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from curators.errors import CurateError
from curators.serve.config import ServeConfig
from flows.env import SERVER_FILE
from flows.env import api_answers as healthy
from flows.temporary_server import APP


@dataclass
class Server:
    url: str  # the API, http://127.0.0.1:PORT/api
    pid: int | None  # when `curate serve` started it
    started_here: bool
    process: subprocess.Popen | None = None


def prefect_home(root: Path) -> Path:
    return root / ".prefect"


def recorded_server(root: Path) -> Server | None:
    """The server `curate serve` started for this data root, when it still answers."""
    try:
        state = json.loads((prefect_home(root) / SERVER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return Server(state["url"], state.get("pid"), False) if healthy(state["url"]) else None


def find_server(root: Path) -> Server | None:
    """PREFECT_API_URL when set (it must answer), else a server started earlier for this data root."""
    url = os.environ.get("PREFECT_API_URL")
    if url:
        if not healthy(url):
            raise CurateError(
                f"PREFECT_API_URL={url} does not answer",
                hint="start that server, or unset PREFECT_API_URL to let `curate serve` start one",
            )
        return Server(url, None, False)
    return recorded_server(root)


def start_server(root: Path, config: ServeConfig) -> Server:
    """Prefect's server (as `prefect server start` runs it, see the module) on loopback, its SQLite database and
    log under <data root>/.prefect; recorded so that `curate serve --status` (and a later `curate serve`) find it.
    Its own session: a Ctrl-C meant for `curate serve` does not reach it before the schedules are paused."""
    home = prefect_home(root)
    home.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{config.port}/api"
    if healthy(url):
        raise CurateError(
            f"port {config.port} already serves a Prefect API that `curate serve` did not start for {root}",
            hint=f"use it with PREFECT_API_URL={url}, or pick another port (serve.port)",
        )
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_UI_ENABLED": "true" if config.ui else "false",
    }
    env.pop("PREFECT_API_URL", None)
    # `prefect server start` runs `uvicorn.run(create_app(final=True))` in its own process; this is the same app and
    # services (not ephemeral, not webserver-only), behind `flows.prefect_app`'s fixes for SQLite's locks. Host and
    # port are said to the app too: its UI calls the API there.
    for key in ("PREFECT__SERVER_EPHEMERAL", "PREFECT__SERVER_WEBSERVER_ONLY"):
        env.pop(key, None)
    env |= {
        "PREFECT__SERVER_FINAL": "1",
        "PREFECT_SERVER_API_HOST": "127.0.0.1",
        "PREFECT_SERVER_API_PORT": str(config.port),
    }
    command = [
        sys.executable, "-m", "uvicorn", "--factory", APP, "--host", "127.0.0.1", "--port", str(config.port),
        "--lifespan", "on", "--log-level", "warning",
    ]  # fmt: skip
    with open(home / "server.log", "ab") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + config.server_start_s
    while not healthy(url):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise CurateError(
                f"the Prefect server did not start on port {config.port} within {config.server_start_s:.0f} s",
                hint=f"see {home / 'server.log'}",
            )
        time.sleep(0.5)
    (home / SERVER_FILE).write_text(json.dumps({"url": url, "pid": process.pid}))
    return Server(url, process.pid, True, process)


def stop_server(root: Path, server: Server) -> None:
    """Stop a server this process started, and forget it."""
    if not server.started_here or server.process is None:
        return
    try:
        os.killpg(server.process.pid, signal.SIGTERM)
        try:
            server.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.process.pid, signal.SIGKILL)
            server.process.wait()
        os.killpg(server.process.pid, signal.SIGKILL)  # anything it left in its session
    except ProcessLookupError:
        pass
    (prefect_home(root) / SERVER_FILE).unlink(missing_ok=True)


def stop_recorded(root: Path, timeout_s: float = 20.0) -> Server | None:
    """Stop the server recorded for this data root (by `curate prefect start`), whoever started it; None when
    no recorded server answers."""
    server = recorded_server(root)
    if server is None:
        (prefect_home(root) / SERVER_FILE).unlink(missing_ok=True)
        return None
    if server.pid:
        try:
            os.killpg(server.pid, signal.SIGTERM)  # its own session: the group is the server and its children
            deadline = time.monotonic() + timeout_s
            while healthy(server.url, timeout=0.5) and time.monotonic() < deadline:
                time.sleep(0.3)
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    (prefect_home(root) / SERVER_FILE).unlink(missing_ok=True)
    return server
