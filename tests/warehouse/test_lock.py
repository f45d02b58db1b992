from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from curators.errors import WarehouseLocked
from warehouse.lock import is_locked, lock_path, writer_lock

HOLDER = """
import sys, time
from warehouse.lock import writer_lock
with writer_lock(sys.argv[1], command="curate ingest (test holder)"):
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
    releasing = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
print("released", releasing, flush=True)
"""


def hold_lock(root: Path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(root), str(seconds)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_is_refused_at_once_with_who_holds_it(tmp_path: Path) -> None:
    proc = hold_lock(tmp_path, 60)
    try:
        assert is_locked(tmp_path)
        started = time.monotonic()
        with pytest.raises(WarehouseLocked) as exc, writer_lock(tmp_path):
            pass
        assert time.monotonic() - started < 5  # not queued behind the holder (a minute), even on a busy machine
        assert f"pid {proc.pid}" in exc.value.message and "test holder" in exc.value.message
        assert "--wait" in exc.value.hint
    finally:
        proc.kill()
        proc.wait()


def test_wait_queues_behind_the_holder(tmp_path: Path) -> None:
    proc = hold_lock(tmp_path, 1.5)
    try:
        with writer_lock(tmp_path, wait=120):
            acquired = time.monotonic()
        word, releasing = proc.stdout.readline().split()
        assert word == "released" and acquired > float(releasing)  # we got it only once the holder let go
        with pytest.raises(WarehouseLocked):  # a bounded wait gives up
            proc2 = hold_lock(tmp_path, 30)
            try:
                with writer_lock(tmp_path, wait=0.3):
                    pass
            finally:
                proc2.kill()
                proc2.wait()
    finally:
        proc.kill()
        proc.wait()


def test_a_killed_holder_leaves_no_stale_lock(tmp_path: Path) -> None:
    proc = hold_lock(tmp_path, 60)
    proc.kill()
    proc.wait()
    assert lock_path(tmp_path).exists()
    assert not is_locked(tmp_path)
    with writer_lock(tmp_path):
        assert is_locked(tmp_path)


def test_lock_is_reentrant_within_a_process(tmp_path: Path) -> None:
    with writer_lock(tmp_path), writer_lock(tmp_path):
        assert is_locked(tmp_path)
    assert not is_locked(tmp_path)
