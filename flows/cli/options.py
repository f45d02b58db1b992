"""Option types shared by the commands, and the context every command reads its configuration from.

Importing this module imports no Prefect, torch or model: `--help` and the read-only commands stay fast.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from curators.config import CurateConfig, load_config
from flows.runners import Runner


class Strategy(StrEnum):
    diverse = "diverse"
    random = "random"


class ForestKind(StrEnum):
    regressor = "regressor"
    classifier = "classifier"


class TextTable(StrEnum):
    docs = "docs"
    generations = "generations"
    instructions = "instructions"
    responses = "responses"


class Verify(StrEnum):
    jaccard = "jaccard"
    minhash = "minhash"


class DecontamMethod(StrEnum):
    ngram = "ngram"
    ngram_difflib = "ngram+difflib"


class Semantic(StrEnum):
    off = "off"
    report = "report"
    remove = "remove"


class Stage(StrEnum):
    ingest = "ingest"
    quality = "quality"
    label = "label"
    train = "train"
    score = "score"
    dedup = "dedup"
    decontam = "decontam"
    report = "report"


class SeedMode(StrEnum):
    taxonomy = "taxonomy"
    web = "web"


class InstructMethod(StrEnum):
    self_instruct = "self-instruct"
    evol = "evol"
    magpie = "magpie"
    grounded = "grounded"


class Task(StrEnum):
    textbook = "textbook"
    exercise = "exercise"


Wait = Annotated[
    float | None,
    typer.Option("--wait", help="Seconds to wait for another writer of the same data root (-1: forever)."),
]
Fresh = Annotated[bool, typer.Option("--fresh", help="Start a new run instead of resuming the last one.")]
RunnerOption = Annotated[
    Runner, typer.Option("--runner", help="local (threads) or dask (a process per core, or --dask-address).")
]
DaskAddress = Annotated[
    str | None,
    typer.Option(
        "--dask-address", help="tcp://host:port of a Dask scheduler (default: a LocalCluster, a process per core)."
    ),
]


@dataclass
class Context:
    config_path: Path | None
    data_root: Path | None
    verbose: bool
    debug: bool

    def config(self, overrides: dict[str, Any] | None = None) -> CurateConfig:
        merged: dict[str, Any] = dict(overrides or {})
        if self.data_root is not None:
            merged.setdefault("settings", {})["data_root"] = str(self.data_root)
        return load_config(self.config_path, merged)


def context(ctx: typer.Context) -> Context:
    return ctx.obj


def given(**values: Any) -> dict[str, Any]:
    """The options the user gave (not None), as config overrides."""
    return {k: v.value if isinstance(v, StrEnum) else v for k, v in values.items() if v is not None}


def for_flows(config: CurateConfig, verbose: bool, wait: float | None, stages: list[str] | None = None) -> CurateConfig:
    """Prepare this process to run flows (offline hubs, quiet Prefect, the API key in the environment) and
    return the config as flows receive it: no secrets in it, so none becomes a Prefect parameter.

    A warehouse that another process is writing is said here, before Prefect starts (unless --wait):
    the flow takes the writer lock itself. `stages` whose units run in worker processes have their forkserver
    started here (`flows.processes.start_forkserver`): while Prefect is imported, or, when this command starts a
    temporary API, once Prefect is imported, while the command waits for its server (which then has the other
    core to itself as it starts: a no-op `curate dedup --rerun` without a server, ~8.1 -> ~7.8 s on 2 cores)."""
    from flows.env import configure_environment, flow_settings, tune_flow_runs
    from flows.processes import start_forkserver
    from flows.temporary_server import TemporaryServer, use_api
    from warehouse.lock import check_unlocked

    check_unlocked(config.settings.data_root, wait)

    configure_environment(config.settings.data_root, verbose=verbose)
    # No server to use (the data root's, or PREFECT_API_URL): one for this command, starting while Prefect imports.
    server = None if os.environ.get("PREFECT_API_URL") else TemporaryServer()
    if stages and server is None:
        start_forkserver(stages)  # its imports alongside Prefect's
    tune_flow_runs()  # (imports Prefect)
    if server is not None:
        if stages:  # its imports while this process waits for the server, not on the core the server starts on
            start_forkserver(stages)
        use_api(server)
    return config.model_copy(update={"settings": flow_settings(config.settings)})
