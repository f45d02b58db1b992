"""The API app of the project's Prefect servers (`flows.prefect_app`): a request that SQLite's lock failed is
retried inside the server at once, a lock wait lasts at most BUSY_TIMEOUT_MS, and nothing else changes.

The first tests inject the fault (an app that answers 503 as Prefect does for a locked database); the last one
locks a real server's SQLite database from outside."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flows.prefect_app import RETRY_DELAYS, RetryUnavailable
from flows.temporary_server import TemporaryServer


class FlakyApp:
    """Answers 503 to its first `failures` calls, as Prefect's handler for a locked database does (Starlette then
    raises the error again), and echoes the request's body afterwards."""

    def __init__(self, failures: int, status: int = 503) -> None:
        self.failures = failures
        self.status = status
        self.bodies: list[bytes] = []

    async def __call__(self, scope, receive, send) -> None:  # noqa: ANN001 - ASGI
        message = await receive()
        self.bodies.append(message["body"])
        if len(self.bodies) <= self.failures:
            await send({"type": "http.response.start", "status": self.status, "headers": []})
            await send({"type": "http.response.body", "body": b'{"exception_message": "Service Unavailable"}'})
            raise RuntimeError("database is locked")
        await send({"type": "http.response.start", "status": 201, "headers": []})
        await send({"type": "http.response.body", "body": message["body"]})


def post(app, body: bytes) -> httpx.Response:  # noqa: ANN001
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://server") as client:
            return await client.post("/api/flow_runs/", content=body)

    return asyncio.run(go())


def test_a_request_answered_503_is_retried_with_its_body_until_it_succeeds() -> None:
    app = FlakyApp(failures=3)
    started = time.monotonic()
    response = post(RetryUnavailable(app), b'{"flow_id": "x"}')
    assert response.status_code == 201
    assert response.content == b'{"flow_id": "x"}'
    assert app.bodies == [b'{"flow_id": "x"}'] * 4  # the same body each time
    assert time.monotonic() - started < 1.0  # not Prefect's client's 2 s, 4 s, ...


def test_a_503_that_lasts_is_passed_on_after_the_last_retry() -> None:
    app = FlakyApp(failures=100)
    response = post(RetryUnavailable(app), b"{}")
    assert response.status_code == 503  # the client's own back-off takes over
    assert len(app.bodies) == len(RETRY_DELAYS) + 1


def test_other_answers_and_errors_are_passed_on_at_once() -> None:
    app = FlakyApp(failures=1, status=500)
    response = post(RetryUnavailable(app), b"{}")
    assert response.status_code == 500
    assert len(app.bodies) == 1


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[TemporaryServer, Path]]:
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path))  # a database of its own: <home>/prefect.db
    monkeypatch.delenv("PREFECT_API_DATABASE_CONNECTION_URL", raising=False)
    server = TemporaryServer()
    try:
        assert server.wait(timeout=120)
        yield server, tmp_path / "prefect.db"
    finally:
        server.stop()


def hold_write_lock(database: Path, seconds: float) -> threading.Thread:
    """Take SQLite's write lock on `database` from another connection, for `seconds`, in a thread."""
    locked = threading.Event()

    def hold() -> None:
        connection = sqlite3.connect(database, isolation_level=None, check_same_thread=False)
        connection.execute("BEGIN IMMEDIATE")
        locked.set()
        time.sleep(seconds)
        connection.execute("ROLLBACK")
        connection.close()

    thread = threading.Thread(target=hold)
    thread.start()
    assert locked.wait(10)
    return thread


def test_a_locked_database_is_waited_for_briefly_and_retried_inside_the_server(server) -> None:  # noqa: ANN001
    temporary, database = server
    with httpx.Client(base_url=temporary.url, timeout=120) as client:
        assert client.post("/flows/", json={"name": "before"}).status_code in (200, 201)

        # A lock released after 1.5 s: the write waits 1 s, is retried in the server, and succeeds.
        holder = hold_write_lock(database, 1.5)
        started = time.monotonic()
        response = client.post("/flows/", json={"name": "short-lock"})
        elapsed = time.monotonic() - started
        holder.join()
        assert response.status_code in (200, 201), response.text
        assert elapsed >= 1.0

        # A lock held for 15 s: each attempt gives up after 1 s (Prefect's own setting waits 60 s), and after the
        # retries the client gets the 503 (Prefect's client then backs off on its own).
        holder = hold_write_lock(database, 15)
        started = time.monotonic()
        response = client.post("/flows/", json={"name": "long-lock"})
        elapsed = time.monotonic() - started
        holder.join()
        assert response.status_code == 503
        assert len(RETRY_DELAYS) + 1 <= elapsed < 14  # before the lock is released

        assert client.post("/flows/", json={"name": "after"}).status_code in (200, 201)
