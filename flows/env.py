"""Process environment for flows: offline model hubs, quiet Prefect, a writable PREFECT_HOME, and the LLM
API key where the tasks read it.

Called before anything imports Prefect or Hugging Face libraries. Values the user has already set are kept.
"""

from __future__ import annotations

import os
from pathlib import Path

from curators.settings import ENV_SETTINGS, Settings

OFFLINE_DEFAULTS = {
    # A hub name must fail at once instead of retrying for 20-90 s: these machines have no internet.
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
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


def configure_environment(data_root: Path, verbose: bool = False) -> None:
    for key, value in OFFLINE_DEFAULTS.items():
        if key == "PREFECT_LOGGING_LEVEL" and verbose:
            value = "INFO"
        os.environ.setdefault(key, value)
    if "PREFECT_HOME" not in os.environ and not _writable(Path.home() / ".prefect"):
        os.environ["PREFECT_HOME"] = str(Path(data_root).resolve() / ".prefect")


def flow_settings(settings: Settings) -> Settings:
    """`settings` as flows receive them: the API key moved into the process environment (where the tasks
    read it, `api_key_from_env`) and removed from the object, so it never becomes a Prefect parameter."""
    if settings.llm_api_key is not None:
        os.environ.setdefault(ENV_SETTINGS["llm_api_key"][0], settings.llm_api_key.get_secret_value())
    return settings.model_copy(update={"llm_api_key": None, "hf_token": None})
