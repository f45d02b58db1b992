"""The Prefect API app this project's servers run: Prefect's own app, with two fixes for SQLite's locks, which
stalled flow runs that follow one another in one process (a loop of flows, `curate serve`'s runs).

Measured with Prefect 3.8 on its SQLite database (`benchmarks/back_to_back_flows.py`: 117 short flow runs, one
after another), Prefect's app stalled 70 of them over 1 s and 2 over 10 s; this one 3 over 1 s and none over 10 s.
- The 2 s stalls. Some API writes read before they write in one deferred transaction (`POST /flow_runs/` reads
  the flow's labels, then inserts). In WAL mode, when another connection commits in between (the server's own
  services record the previous run's task-run events in the background), SQLite fails the write at once with
  SQLITE_BUSY_SNAPSHOT: its busy timeout does not apply. Prefect answers 503, and its client waits 2**attempt
  seconds (~2 s, with jitter) before it tries again. A retry from a fresh transaction succeeds at once:
  `RetryUnavailable` makes it inside the server within milliseconds, and passes the 503 on only after
  `RETRY_DELAYS` are spent (the client's own back-off then goes on, as before). Prefect answers 503 only for errors
  it classes as retryable, and its client sends those same requests again: retrying them sooner changes no outcome.
- The 60 s stalls: two of the server's connections wait for each other's lock until SQLite's busy timeout, which
  Prefect sets to 60 s, fails one of them (the task-run recorder's flush, which keeps its events and writes them
  later). `BUSY_TIMEOUT_MS` makes that wait 1 s. A lock is normally held for milliseconds; a wait that does time
  out is a 503 that is retried, as above.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

RETRY_DELAYS = (0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32)  # seconds before each retry: ~0.6 s in all
SERVICE_UNAVAILABLE = 503
BUSY_TIMEOUT_MS = 1000


class RetryUnavailable:
    """ASGI middleware: an HTTP request answered 503 is run again after each of `delays`; the last answer is sent."""

    def __init__(self, app: ASGIApp, delays: tuple[float, ...] = RETRY_DELAYS) -> None:
        self.app = app
        self.delays = delays

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        for delay in (*self.delays, None):
            if await self._attempt(scope, body, receive, send, last=delay is None):
                return
            await asyncio.sleep(delay)

    async def _attempt(self, scope: Scope, body: bytes, receive: Receive, send: Send, last: bool) -> bool:
        """Run the request once; True when its answer was sent (not a 503, or the last attempt)."""
        given = False
        held_back = False

        async def replay() -> Message:
            nonlocal given
            if not given:
                given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # after the body: the client's disconnect, as the app would see it

        async def forward(message: Message) -> None:
            nonlocal held_back
            if message["type"] == "http.response.start" and message["status"] == SERVICE_UNAVAILABLE and not last:
                held_back = True
            if not held_back:
                await send(message)

        try:
            await self.app({**scope}, replay, forward)
        except Exception:
            # Starlette raises the error again after its handler sent the 503 (for the server's log): a request
            # that is retried is not an error.
            if not held_back:
                raise
        return not held_back


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away before sending its body
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _shorter_busy_timeout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """SQLite's busy timeout to BUSY_TIMEOUT_MS, on each checkout of a connection: after Prefect's own setup, which
    sets 60 s when the connection is made."""
    if "sqlite" not in type(dbapi_connection).__module__:
        return  # PostgreSQL: not concerned
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    cursor.close()


def create_app() -> ASGIApp:
    """Prefect's API app (`prefect.server.api.server:create_app`, configured by the same environment variables),
    with SQLite's busy timeout at BUSY_TIMEOUT_MS and behind `RetryUnavailable`. For `uvicorn --factory
    flows.prefect_app:create_app`, in a process of its own (the busy timeout is set for every pool there)."""
    import sqlalchemy
    from prefect.server.api.server import create_app as prefect_app

    sqlalchemy.event.listen(sqlalchemy.pool.Pool, "checkout", _shorter_busy_timeout)
    return RetryUnavailable(prefect_app())
