"""Process environment for flows: offline model hubs, quiet Prefect, a writable PREFECT_HOME, and the LLM
API key where the tasks read it.

Called before anything imports Prefect or Hugging Face libraries. Values the user has already set are kept.
"""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any

from curators.settings import ENV_SETTINGS, Settings

OFFLINE_DEFAULTS = {
    # A hub name must fail at once instead of retrying for 20-90 s: these machines have no internet.
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    # Prefect's client telemetry (and its first-run "Prefect collects anonymous usage data" notice on a terminal):
    # off unless the user set DO_NOT_TRACK themselves. Nothing phones home.
    "DO_NOT_TRACK": "1",
    # transformers' "Loading weights" bars and load reports when the embedder or a tokenizer loads: our own
    # progress bars say what is happening. Warnings and errors still print.
    "TRANSFORMERS_VERBOSITY": "error",
    # Prefect's ephemeral API waits 20 s for its server by default: too short on 2 busy cores (seen in CI).
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
    # Prefect's own console logs repeat what our progress bars show; warnings still print.
    "PREFECT_LOGGING_LEVEL": "WARNING",
    "TOKENIZERS_PARALLELISM": "false",
    # Dask's scheduler and workers (--runner dask) log every start and stop at INFO otherwise.
    "DASK_LOGGING__DISTRIBUTED": "warning",
}


def _writable(folder: Path) -> bool:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(folder, os.W_OK)


SERVER_FILE = "server.json"  # <data root>/.prefect/server.json: the Prefect server `curate serve` started


def api_answers(api_url: str, timeout: float = 2.0) -> bool:
    """Whether a Prefect API answers its health check."""
    try:
        with urllib.request.urlopen(f"{api_url.rstrip('/')}/health", timeout=timeout) as answer:
            return answer.status == 200
    except OSError:
        return False


def running_server(data_root: Path) -> str | None:
    """The API of the Prefect server `curate serve` started for this data root, when it still answers."""
    try:
        url = json.loads((Path(data_root).resolve() / ".prefect" / SERVER_FILE).read_text())["url"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if isinstance(url, str) and api_answers(url, timeout=1.0) else None


def prefect_api(data_root: Path) -> tuple[str, str | None]:
    """Which Prefect API a stage command uses: ("env", PREFECT_API_URL) when the user set one, ("serve", url)
    when `curate serve` runs a server for this data root, else ("ephemeral", None): one started per command
    (`flows.temporary_server`; or the API a Prefect profile names)."""
    if os.environ.get("PREFECT_API_URL"):
        return "env", os.environ["PREFECT_API_URL"]
    url = running_server(data_root)
    return ("serve", url) if url else ("ephemeral", None)


def configure_environment(data_root: Path, verbose: bool = False, use_running_server: bool = True) -> None:
    """Offline hubs, quiet Prefect; and the Prefect server `curate serve` runs for this data root, when there is
    one (`use_running_server`), instead of an ephemeral API started (and waited for) by every command."""
    for key, value in OFFLINE_DEFAULTS.items():
        if key == "PREFECT_LOGGING_LEVEL" and verbose:
            value = "INFO"
        os.environ.setdefault(key, value)
    if "PREFECT_HOME" not in os.environ and not _writable(Path.home() / ".prefect"):
        os.environ["PREFECT_HOME"] = str(Path(data_root).resolve() / ".prefect")
    if use_running_server and not os.environ.get("PREFECT_API_URL"):
        url = running_server(data_root)
        if url:
            os.environ["PREFECT_API_URL"] = url


def update_prefect_settings(updates: dict[str, Any] | None = None, set_defaults: dict[str, Any] | None = None) -> None:
    """Change this process's Prefect settings (the global settings context every thread reads), with Prefect's own
    `Settings.copy_with_update`. Imports Prefect."""
    import prefect.context

    base = prefect.context.GLOBAL_SETTINGS_CONTEXT
    settings = base.settings.copy_with_update(updates=updates, set_defaults=set_defaults)
    prefect.context.GLOBAL_SETTINGS_CONTEXT = prefect.context.SettingsContext(profile=base.profile, settings=settings)


def without_flow_heartbeats() -> None:
    """No flow-run heartbeats in this process, unless the user set PREFECT_FLOWS_HEARTBEAT_FREQUENCY. Called once
    Prefect is about to run flows here (it imports Prefect).

    Why: Prefect's heartbeat thread sleeps in whole seconds and the engine joins it when a flow run ends, so every
    flow run (and each subflow of `curate run`) waited 0-1 s for it, ~0.5 s on average, measured in a no-op
    `curate dedup`. Heartbeats only feed Prefect's zombie-run automations; here a command's writer lock and its
    run record (`warehouse.runs`) say whether it still runs. An environment variable cannot turn them off (the
    setting is an optional integer >= 30, and no string parses as None), so the process's settings are changed:
    `set_defaults` keeps a value the user set."""
    update_prefect_settings(set_defaults={"flows.heartbeat_frequency": None})


def flow_parameters_without_fastapi() -> None:
    """Flow runs record their parameters without importing FastAPI. Called once Prefect is about to run flows here
    (it imports Prefect).

    Why: `Flow.serialize_parameters` (Prefect 3.8) converts each parameter with FastAPI's `jsonable_encoder`, and
    importing `fastapi` builds its whole routing stack: 0.2-0.3 s of every command's first flow run, measured in a
    no-op `curate dedup --rerun` (the command talks to a server; it runs none). pydantic's `to_jsonable_python`
    makes the same JSON of what flows are given (str, numbers, None, lists and dicts, pydantic models: dumped in
    JSON mode, by alias) and raises ValueError or TypeError where `jsonable_encoder` does, which Prefect's own
    fallback turns into the `<TypeName>` placeholder. Prefect's method still serves flows that are methods."""
    from prefect.flows import Flow

    if getattr(Flow.serialize_parameters, "without_fastapi", False):
        return
    prefects = Flow.serialize_parameters

    def serialize_parameters(self: Flow, parameters: dict[str, Any]) -> dict[str, Any]:
        from prefect.futures import PrefectFuture
        from prefect.states import State
        from pydantic_core import to_jsonable_python

        if self.ismethod or self.isclassmethod:
            return prefects(self, parameters)
        serialized: dict[str, Any] = {}
        for key, value in parameters.items():
            if isinstance(value, PrefectFuture | State):
                serialized[key] = f"<{type(value).__name__}>"  # (Prefect's placeholder: never read)
                continue
            try:
                serialized[key] = to_jsonable_python(value, by_alias=True)
            except (TypeError, ValueError, RecursionError):
                serialized[key] = f"<{type(value).__name__}>"
        return serialized

    serialize_parameters.without_fastapi = True  # type: ignore[attr-defined]
    Flow.serialize_parameters = serialize_parameters  # type: ignore[method-assign]


def tune_flow_runs() -> None:
    """What every process that runs flows here sets before its first flow run (imports Prefect): no heartbeats
    (`without_flow_heartbeats`), parameters recorded without FastAPI (`flow_parameters_without_fastapi`)."""
    without_flow_heartbeats()
    flow_parameters_without_fastapi()


def flow_settings(settings: Settings) -> Settings:
    """`settings` as flows receive them: the API key moved into the process environment (where the tasks
    read it, `api_key_from_env`) and removed from the object, so it never becomes a Prefect parameter."""
    if settings.llm_api_key is not None:
        os.environ.setdefault(ENV_SETTINGS["llm_api_key"][0], settings.llm_api_key.get_secret_value())
    return settings.model_copy(update={"llm_api_key": None, "hf_token": None})
