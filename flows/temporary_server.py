"""A temporary Prefect API for one stage command, started as the command starts: what Prefect's ephemeral mode
gives, ~4 s sooner.

Without a server to use (`curate prefect start`, a PREFECT_API_URL, a profile's API), Prefect starts a temporary
one itself at the flow's first API call: in the command's process it imports its server modules (~2 s), then
starts the server and waits for it (~3.5 s with an existing database), one after the other, after the command
has imported Prefect (~1.5 s). Here the same server, with Prefect's command line and environment
(`prefect.server.api.server.SubprocessASGIServer`) and Prefect's app behind two fixes for SQLite's locks
(`flows.prefect_app`), is started before the command imports Prefect, as a child
process, so that its start overlaps the command's own imports and planning on another core.

The command points Prefect at it only once it answers (`use_api`). If it never does (a Prefect version
that starts its server differently, a port taken meanwhile), it is stopped and Prefect's own ephemeral mode runs,
as without it (and says what went wrong if that fails too). It stops when the command exits, and (Linux) when the
command is killed.

This module imports Prefect only in `use_api`, once the command has started the server.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import time

from curators.child_processes import die_with_parent, free_port
from flows.env import api_answers, update_prefect_settings

APP = "flows.prefect_app:create_app"  # Prefect's app, with fixes for SQLite's locks (see there)
# What Prefect's ephemeral mode gives its server (SubprocessASGIServer._run_uvicorn_command): no UI, and only the
# services an ephemeral server runs.
SERVER_ENV = {"PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
STARTUP_TIMEOUT_ENV = "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS"  # Prefect's own wait, used here too


class TemporaryServer:
    """A Prefect API server on a free loopback port, for as long as this process runs."""

    def __init__(self, app: str = APP) -> None:
        """`app`: the ASGI app factory uvicorn runs (Prefect's own is `prefect.server.api.server:create_app`)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/api"
        command = [
            sys.executable, "-m", "uvicorn", "--factory", app,
            "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "error", "--lifespan", "on",
        ]  # fmt: skip
        env = {**os.environ, **SERVER_ENV}
        env.pop("PREFECT_API_URL", None)
        self.process: subprocess.Popen | None = subprocess.Popen(
            command, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
        )  # fmt: skip
        atexit.register(self.stop)

    def wait(self, timeout: float | None = None) -> bool:
        """Whether it answers its health check within `timeout` seconds (default: Prefect's own wait for its
        ephemeral server); False at once when it has exited."""
        if timeout is None:
            timeout = float(os.environ.get(STARTUP_TIMEOUT_ENV) or 120)
        deadline = time.monotonic() + timeout
        while self.process is not None and self.process.poll() is None:
            if api_answers(self.url, timeout=1.0):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        """Stop it (SIGTERM, then SIGKILL after 5 s, as Prefect stops its own); safe to call twice."""
        process, self.process = self.process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def use_api(server: TemporaryServer) -> bool:
    """Point this process's Prefect at `server`, the temporary API this command started, once it answers; True
    then. False, with the server stopped, when a Prefect profile names an API (Prefect Cloud, a server: used as
    it would be without the temporary one), or when it does not answer (Prefect then starts its own ephemeral
    API, as it always did). Imports Prefect."""
    import prefect.context

    if prefect.context.GLOBAL_SETTINGS_CONTEXT.settings.api.url or not server.wait():
        server.stop()
        return False
    os.environ["PREFECT_API_URL"] = server.url  # for the processes the command starts (Dask's workers)
    update_prefect_settings(updates={"api.url": server.url})
    return True
