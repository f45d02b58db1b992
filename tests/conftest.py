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


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One Prefect test harness (temporary database + ephemeral API) for the whole session."""
    from prefect.testing.utilities import prefect_test_harness

    from flows.env import without_flow_heartbeats

    without_flow_heartbeats()  # as in every `curate` command that runs flows (flows.cli.options.for_flows)
    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return tmp_path / "warehouse"
