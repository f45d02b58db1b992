"""A fault-injecting OpenAI-compatible endpoint on loopback, for tests and benchmarks.

The behaviour of a request is chosen by a `SCENARIO:<name>` marker in its last user message; the
server counts the calls per item (the `ITEM:<id>` marker) so tests can check bounded attempts.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

VALID = {"reason": "Clear explanation with examples.", "score": 3}


def _completion(content: str, finish: str = "stop", prompt_tokens: int = 50, completion_tokens: int = 12) -> dict:
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": "fake",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a deep listen backlog: clients are never refused by the fake itself


class FakeLLM:
    """Start with `with FakeLLM() as fake:`; `fake.base_url` is the endpoint."""

    def __init__(
        self,
        latency: float = 0.0,
        hang_seconds: float = 5.0,
        scorer: Callable[[str], int] | None = None,
        answer: Callable[[dict[str, Any]], str] | None = None,
        cut: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        self.latency = latency
        self.cut = cut  # scenario "ok": whether the answer ends cut at max_tokens (finish_reason "length")
        self.scorer = scorer  # scenario "ok": the score of the answer, from the last user message
        self.answer_of = answer  # scenario "ok": the whole answer's text, from the request body
        self.hang_seconds = hang_seconds
        self.calls: Counter[str] = Counter()  # item -> calls
        self.total = 0
        self.bodies: list[dict[str, Any]] = []
        self.auth: set[str] = set()  # Authorization headers seen
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                # Headers and body go out in separate writes: without this, Nagle's algorithm and the
                # client's delayed ACK add ~40 ms to every answer.
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def log_message(self, *args: object) -> None:
                return

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:  # noqa: N802
                self._send(200, json.dumps({"object": "list", "data": [{"id": "fake"}]}).encode())

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                if not self.path.endswith("/chat/completions"):  # like OpenAI's chat models: no text completions
                    with fake._lock:
                        fake.bodies.append(body)
                    self._send(404, b'{"error": {"message": "This is a chat model: use v1/chat/completions"}}')
                    return
                text = body["messages"][-1]["content"] if body["messages"][-1]["role"] == "user" else ""
                first = body["messages"][0]["content"] if body["messages"] else ""
                scenario = re.search(r"SCENARIO:([\w-]+)", first)
                item = re.search(r"ITEM:([\w-]+)", first)
                name = scenario.group(1) if scenario else "ok"
                key = item.group(1) if item else "?"
                with fake._lock:
                    fake.calls[key] += 1
                    fake.total += 1
                    fake.bodies.append(body)
                    fake.auth.add(self.headers.get("Authorization", ""))
                    n = fake.calls[key]
                if fake.latency:
                    time.sleep(fake.latency)
                reask = "cannot be used" in text
                fake.respond(self, name, n, reask, body, text)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def respond(self, h: Any, name: str, n: int, reask: bool, body: dict[str, Any], text: str) -> None:  # noqa: C901 - one branch a scenario
        valid = VALID if self.scorer is None else {"reason": "scripted", "score": self.scorer(text)}
        content = json.dumps(valid) if self.answer_of is None else self.answer_of(body)
        cut = self.cut is not None and self.cut(body)
        ok = json.dumps(_completion(content, finish="length" if cut else "stop")).encode()
        if name == "ok":
            h._send(200, ok)
        elif name == "rate-limited":  # 429 twice with Retry-After, then fine
            if n <= 2:
                h._send(429, b'{"error": {"message": "slow down"}}', {"Retry-After": "1"})
            else:
                h._send(200, ok)
        elif name == "server-error":  # 500 twice, then fine
            h._send(500, b'{"error": {"message": "boom"}}') if n <= 2 else h._send(200, ok)
        elif name == "always-500":
            h._send(500, b'{"error": {"message": "down"}}')
        elif name == "unauthorized":
            h._send(401, b'{"error": {"message": "bad key"}}')
        elif name == "hang":  # the first call outlives the client's timeout
            if n == 1:
                time.sleep(self.hang_seconds)
            h._send(200, ok)
        elif name == "garbage":  # a 200 whose body is not JSON, once
            if n == 1:
                h._send(200, b"<html>upstream proxy error</html>")
            else:
                h._send(200, ok)
        elif name == "drop":  # the connection is closed without an answer, once
            if n == 1:
                h.connection.shutdown(socket.SHUT_RDWR)
                h.close_connection = True
            else:
                h._send(200, ok)
        elif name == "prose":  # never answers JSON
            h._send(200, json.dumps(_completion("I think this text is quite educational.")).encode())
        elif name == "out-of-range":  # score 10, then a valid one when re-asked
            content = {"reason": "great", "score": 10} if not reask else VALID
            h._send(200, json.dumps(_completion(json.dumps(content))).encode())
        elif name == "truncated":  # cut at max_tokens, then complete when re-asked
            if not reask:
                h._send(200, json.dumps(_completion('{"reason": "This is a long', finish="length")).encode())
            else:
                h._send(200, ok)
        elif name == "empty":
            h._send(200, json.dumps(_completion("")).encode())
        elif name == "refuses-schema":  # a server that rejects json_schema response_format
            if body.get("response_format", {}).get("type") == "json_schema":
                h._send(400, b'{"error": {"message": "response_format json_schema is not supported"}}')
            else:
                h._send(200, ok)
        else:
            h._send(400, json.dumps({"error": {"message": f"unknown scenario {name}"}}).encode())

    def __enter__(self) -> FakeLLM:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


class HeldLLM(FakeLLM):
    """The fake endpoint, answering only its first `answer` requests while `open` is False: every later
    request is held unanswered (so never paid) until `release` is set, then dropped."""

    def __init__(self, answer: int) -> None:
        super().__init__()
        self.answer = answer
        self.open = False
        self.paid: list[str] = []  # the messages of every answered request, in order
        self.holding = threading.Event()  # set once a request is held
        self.release = threading.Event()

    def respond(self, h: Any, name: str, n: int, reask: bool, body: dict[str, Any], *rest: Any) -> None:
        asked = json.dumps(body["messages"], sort_keys=True)
        with self._lock:
            hold = not self.open and len(self.paid) >= self.answer
            if not hold:
                self.paid.append(asked)
        if hold:
            self.holding.set()
            self.release.wait()
            h.close_connection = True  # the asker is dead by now: no answer
            return
        super().respond(h, name, n, reask, body, *rest)

    def kill_when_held(
        self, child: subprocess.Popen, root: Path, table: str, timeout: float = 180, cached_before: int = 0
    ) -> int:
        """SIGKILL `child` once it is provably mid-stage: a request of its is held and every answer given is in
        the response-cache journal (which held `cached_before` answers of earlier stages). Returns the done
        shards of `table` at that moment."""
        from curators.llm.cache import ResponseCache
        from warehouse.shards import done_shards

        try:
            deadline = time.monotonic() + timeout
            while not (self.holding.is_set() and len(ResponseCache(root)) == cached_before + self.answer):
                assert child.poll() is None, "the child ended before it was killed"
                assert time.monotonic() < deadline, "the child never reached the held requests"
                time.sleep(0.05)
            done_at_kill = len(done_shards(root, table))
        finally:
            child.send_signal(signal.SIGKILL)
            child.wait()
        assert child.returncode == -signal.SIGKILL
        return done_at_kill


def main() -> None:
    """Serve in a process of its own (benchmarks): prints the base URL, serves until killed."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    with FakeLLM(latency=args.latency) as fake:
        print(fake.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
