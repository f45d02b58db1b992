"""One writer at a time per data root: an exclusive `flock` on `<root>/.curate.lock`.

The kernel releases the lock when the holder exits, however it exits, so a killed run never leaves
a stale lock behind. The lock file records who holds it, for the error message of the next writer.
The lock is re-entrant within a process (the CLI takes it before a flow starts; the flow takes it
again).
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from warehouse.errors import WarehouseLocked

LOCK_FILE = ".curate.lock"

_held: dict[Path, tuple[int, int]] = {}  # lock path -> (fd, depth)
_guard = threading.Lock()


def lock_path(root: Path) -> Path:
    return Path(root).resolve() / LOCK_FILE


def holder(root: Path) -> dict[str, str] | None:
    """Who holds (or last held) the lock, as recorded in the lock file."""
    try:
        return json.loads(lock_path(root).read_text(encoding="utf-8") or "null")
    except (OSError, ValueError):
        return None


def is_locked(root: Path) -> bool:
    """True when some process (this one included) holds the writer lock of `root`."""
    path = lock_path(root)
    if path in _held:
        return True
    if not path.exists():
        return False
    fd = os.open(path, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _describe(info: dict[str, str] | None) -> str:
    if not info:
        return "another process"
    return f"pid {info.get('pid')} on {info.get('host')} ({info.get('command')}, since {info.get('since')})"


def check_unlocked(root: Path, wait: float | None) -> None:
    """Raise `WarehouseLocked` at once when another process writes to `root` and the caller would not wait:
    a cheap check before starting anything (the flow takes the lock itself)."""
    if wait is None and is_locked(root) and lock_path(root) not in _held:
        raise _locked_error(root)


def _locked_error(root: Path) -> WarehouseLocked:
    return WarehouseLocked(
        f"the warehouse at {Path(root).resolve()} is being written by {_describe(holder(root))}",
        hint="wait for that run to finish, or pass --wait to queue behind it",
    )


@contextmanager
def writer_lock(root: Path, wait: float | None = None, command: str | None = None) -> Iterator[None]:
    """Hold the writer lock of `root`. `wait`: seconds to wait for it (None: fail at once; <0: forever)."""
    path = lock_path(root)
    with _guard:
        if path in _held:
            fd, depth = _held[path]
            _held[path] = (fd, depth + 1)
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield
        finally:
            _release(path)
        return

    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    deadline = None if wait is None or wait < 0 else time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if wait is None or (deadline is not None and time.monotonic() >= deadline):
                os.close(fd)
                raise _locked_error(root) from None
            time.sleep(0.2)
    info = {
        "pid": str(os.getpid()),
        "host": socket.gethostname(),
        "command": command or " ".join(sys.argv[:3]),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(info).encode(), 0)
    with _guard:
        _held[path] = (fd, 1)
    try:
        yield
    finally:
        _release(path)


def _release(path: Path) -> None:
    with _guard:
        fd, depth = _held[path]
        if depth > 1:
            _held[path] = (fd, depth - 1)
            return
        del _held[path]
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)
