"""The Prefect API a stage command uses: the server `curate serve` runs for the data root when it answers
(so the command does not start an ephemeral API of its own), else an ephemeral one; `curate status` says
which."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from flows.env import prefect_api

CURATE = [sys.executable, "-m", "flows.cli"]


@pytest.mark.usefixtures("prefect_harness")
def test_a_stage_command_uses_the_server_of_curate_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "data"
    (root / ".prefect").mkdir(parents=True)
    server = root / ".prefect" / "server.json"
    env = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    monkeypatch.delenv("PREFECT_API_URL", raising=False)

    server.write_text(json.dumps({"url": "http://127.0.0.1:9/api", "pid": None}))  # recorded, but gone
    assert prefect_api(root) == ("ephemeral", None)
    url = PREFECT_API_URL.value()  # the session's test server stands in for the one `curate serve` started
    server.write_text(json.dumps({"url": url, "pid": None}))
    assert prefect_api(root) == ("serve", url)

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(json.dumps({"text": "A document on the use of a shared Prefect server. " * 20}) + "\n")
    done = subprocess.run(
        [*CURATE, "-d", str(root), "ingest", str(corpus), "--name", "probe"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The command's flow run is in that server.
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName

    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(flow_filter=FlowFilter(name=FlowFilterName(any_=["ingest"])))
    assert any(r.parameters.get("data_root") == str(root.resolve()) for r in runs), [r.parameters for r in runs]

    status = subprocess.run([*CURATE, "-d", str(root), "status"], capture_output=True, text=True, env=env, timeout=60)
    assert status.returncode == 0 and "the server of this data root" in status.stdout and url in status.stdout
    server.unlink()
    status = subprocess.run([*CURATE, "-d", str(root), "status"], capture_output=True, text=True, env=env, timeout=60)
    assert "ephemeral API" in status.stdout


def test_telemetry_is_off_unless_the_user_says_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect._internal.analytics.enabled import is_telemetry_enabled

    from flows.env import configure_environment

    monkeypatch.delenv("DO_NOT_TRACK", raising=False)
    configure_environment(tmp_path / "data", use_running_server=False)
    assert os.environ["DO_NOT_TRACK"] == "1" and not is_telemetry_enabled()
    monkeypatch.setenv("DO_NOT_TRACK", "0")  # a user's explicit setting wins
    configure_environment(tmp_path / "data", use_running_server=False)
    assert os.environ["DO_NOT_TRACK"] == "0"


HEARTBEAT_PROBE = """
from flows.env import without_flow_heartbeats
without_flow_heartbeats()
from prefect import flow
from prefect.flow_engine import FlowRunEngine

@flow
def probe() -> int:
    return 1

print(FlowRunEngine(flow=probe).heartbeat_seconds)
"""


@pytest.mark.parametrize(("user_setting", "expected"), [(None, "None"), ("60", "60")])
def test_flow_runs_send_no_heartbeats_unless_the_user_asks(user_setting: str | None, expected: str) -> None:
    """Prefect's heartbeat thread made every flow run wait up to a second when it ended (flows.env): a command's
    flow runs start none, and a PREFECT_FLOWS_HEARTBEAT_FREQUENCY the user set is kept."""
    env = {k: v for k, v in os.environ.items() if "HEARTBEAT" not in k}
    if user_setting is not None:
        env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] = user_setting
    done = subprocess.run([sys.executable, "-c", HEARTBEAT_PROBE], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == expected


def test_flow_parameters_are_recorded_as_prefect_records_them(tmp_path: Path) -> None:
    """`flow_parameters_without_fastapi`: the parameters of this project's flows, given their real configs, are the
    JSON Prefect's own serializer (FastAPI's `jsonable_encoder`) makes; a value neither can encode is Prefect's
    placeholder."""
    from fastapi.encoders import jsonable_encoder

    from curators.config import CurateConfig, SourceSpec
    from curators.ingest.config import IngestConfig
    from flows.env import tune_flow_runs
    from flows.ingest import ingest_flow
    from flows.pipeline import pipeline_flow

    tune_flow_runs()
    config = CurateConfig(ingest=IngestConfig(sources=[SourceSpec(path=str(tmp_path / "a b.jsonl"), name="ç")]))
    cases = [
        (pipeline_flow, {"data_root": str(tmp_path), "config": config, "stages": ["ingest"], "fresh": False,
                         "wait": None}),
        (ingest_flow, {"data_root": str(tmp_path), "config": config.ingest, "fresh": True, "wait": 2.5,
                       "workers": 0}),
    ]  # fmt: skip
    for stage_flow, parameters in cases:
        ours = stage_flow.serialize_parameters(parameters)
        assert ours == {key: jsonable_encoder(value) for key, value in parameters.items()}
        assert ours["config"]["settings" if stage_flow is pipeline_flow else "sources"]  # (a real config, dumped)
    assert ingest_flow.serialize_parameters({"data_root": object()}) == {"data_root": "<object>"}


PARAMETERS_PROBE = """
import sys
from flows.env import tune_flow_runs
tune_flow_runs()
from prefect import flow
from prefect.context import get_run_context
from curators.dedup.config import DedupConfig

@flow
def probe(data_root: str, config: DedupConfig, wait: float | None = None) -> str:
    return str(get_run_context().flow_run.id)

print(probe("/data", DedupConfig(exact=False)))
print("fastapi" in sys.modules)
"""


@pytest.mark.usefixtures("prefect_harness")
def test_a_flow_run_records_its_parameters_without_importing_fastapi() -> None:
    """A command's flow run does not import FastAPI (0.2-0.3 s of every command) and its parameters reach the
    API as before."""
    from prefect.client.orchestration import get_client

    from curators.dedup.config import DedupConfig

    env = {**os.environ, "PREFECT_API_URL": PREFECT_API_URL.value()}
    done = subprocess.run(
        [sys.executable, "-c", PARAMETERS_PROBE], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    run_id, fastapi_imported = done.stdout.strip().splitlines()[-2:]
    assert fastapi_imported == "False"
    with get_client(sync_client=True) as client:
        parameters = client.read_flow_run(run_id).parameters
    assert parameters == {"data_root": "/data", "config": DedupConfig(exact=False).model_dump(mode="json"),
                          "wait": None}  # fmt: skip
