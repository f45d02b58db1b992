"""Helpers for the servers curators starts as child processes (the embedded LLM endpoint, a command's temporary
Prefect API): a free loopback port, and a child that ends when its parent does."""

from __future__ import annotations

import contextlib
import ctypes
import signal
import socket
import sys


def free_port() -> int:
    """A port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def die_with_parent() -> None:
    """`preexec_fn` of a child process: on Linux, SIGTERM when the parent dies (PR_SET_PDEATHSIG), so that a killed
    command leaves no server behind. Elsewhere nothing (the parent's own exit handlers stop it)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
