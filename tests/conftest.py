"""Test session setup: offline hubs, a throwaway PREFECT_HOME, and one Prefect test harness."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="curate-test-prefect-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")  # 20 s is too short on 2 busy cores
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# One stored benchmark index for the session (the tests that decontaminate share it; ~70 MB, removed at exit).
_INDEX_CACHE = tempfile.mkdtemp(prefix="curate-test-decontam-index-")
os.environ["CURATE_DECONTAM_INDEX_CACHE"] = _INDEX_CACHE
atexit.register(shutil.rmtree, _INDEX_CACHE, True)
for _key in ("CURATE_DATA", "CURATE_CONFIG", "CURATE_LLM_API_KEY", "OPENAI_API_KEY", "HF_TOKEN"):
    os.environ.pop(_key, None)

# Prefect sets up its console log handler once a process first needs it (a flow run, `from prefect import flow`), on
# the sys.stderr of that moment. Set up here, that is the session's own (pytest's capture, for every test); set up
# first inside a test that uses `capsys`, it was that test's stream, closed when the test ended, and a later test's
# flow that logged an error failed writing to it ("ValueError: I/O operation on closed file": test_dedup_flow, then
# test_instruct_flow, run together).
from prefect.logging.configuration import ensure_logging_setup  # noqa: E402 (after the environment above)

ensure_logging_setup()


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect API for the whole session: the temporary server a `curate` command starts (Prefect's app behind
    `flows.prefect_app`), on the session's PREFECT_HOME database, used by this process's flows (not by the
    commands that tests start in subprocesses: those start their own, as they do for a user)."""
    from flows.env import tune_flow_runs, update_prefect_settings
    from flows.temporary_server import TemporaryServer

    server = TemporaryServer()
    tune_flow_runs()  # as in every `curate` command that runs flows (flows.cli.options.for_flows)
    assert server.wait(), "the test session's Prefect server did not answer"
    update_prefect_settings(updates={"api.url": server.url})
    try:
        yield
    finally:
        server.stop()


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"
