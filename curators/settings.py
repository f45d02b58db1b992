"""The environment (`Settings`: data root, LLM endpoint, credentials) and the base of every config model.

Environment variables override `curate.yaml`: CURATE_DATA, CURATE_LLM_BASE_URL, CURATE_LLM_MODEL,
CURATE_LLM_API_KEY (or OPENAI_API_KEY), HF_TOKEN.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr

DEFAULT_DATA_ROOT = "curate-data"


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Settings(StrictModel):
    """The environment: where data lives, which LLM endpoint to use, and credentials.

    Environment variables override `curate.yaml`: CURATE_DATA, CURATE_LLM_BASE_URL, CURATE_LLM_MODEL,
    CURATE_LLM_API_KEY (or OPENAI_API_KEY), HF_TOKEN. Secrets are `SecretStr`: they print as ****.
    """

    data_root: Path = Field(default=Path(DEFAULT_DATA_ROOT), description="Warehouse folder.")
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible endpoint; none = start the embedded one."
    )
    llm_model: str | None = Field(default=None, description="Model name at that endpoint.")
    llm_api_key: SecretStr | None = Field(default=None, description="API key for the endpoint.")
    hf_token: SecretStr | None = Field(default=None, description="Hugging Face Hub token (publish).")


ENV_SETTINGS: dict[str, tuple[str, ...]] = {
    "data_root": ("CURATE_DATA",),
    "llm_base_url": ("CURATE_LLM_BASE_URL",),
    "llm_model": ("CURATE_LLM_MODEL",),
    "llm_api_key": ("CURATE_LLM_API_KEY", "OPENAI_API_KEY"),
    "hf_token": ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"),
}


def user_cache_dir(name: str, override_env: str) -> Path:
    """A cache of this user's that no warehouse owns (built binaries, indexes): `$<override_env>`, else
    `$XDG_CACHE_HOME/curators/<name>` (default `~/.cache/curators/<name>`)."""
    if os.environ.get(override_env):
        return Path(os.environ[override_env])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "curators" / name


def api_key_from_env(environ: Mapping[str, str] | None = None, variable: str | None = None) -> str | None:
    """The LLM API key from the environment: CURATE_LLM_API_KEY, then OPENAI_API_KEY; or, for an endpoint of
    its own, only the `variable` named (`""`: that endpoint takes no key, and is sent none of ours)."""
    environ = os.environ if environ is None else environ
    if variable is not None:
        return environ.get(variable) or None if variable else None
    return next((environ[n] for n in ENV_SETTINGS["llm_api_key"] if environ.get(n)), None)
