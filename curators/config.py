"""Configuration: one pydantic model per stage (in its package's `config.py`), and one `Settings`
object for the environment (`curators/settings.py`); `CurateConfig` holds them all.

Precedence, lowest first: built-in defaults < `curate.yaml` < environment variables < CLI options.
Every model forbids unknown keys, so a typo in `curate.yaml` is an error that names the key.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, ValidationError

from curators.decontam.config import DecontamConfig
from curators.dedup.config import DedupConfig, KeepRule, MinHashConfig
from curators.errors import ConfigError
from curators.filter.config import EmbedConfig, FilterConfig, LabelConfig
from curators.heuristics.config import QualityConfig
from curators.ingest.config import IngestConfig, SourceFormat, SourceSpec
from curators.instruct.config import InstructConfig
from curators.llm.config import LLMConfig, Price
from curators.publish.config import ExportConfig
from curators.serve.config import ServeConfig
from curators.settings import ENV_SETTINGS, Settings, StrictModel, api_key_from_env
from curators.synth.config import (
    DiversityConfig,
    ExercisesConfig,
    SeedConfig,
    SynthConfig,
    TextbookConfig,
)

__all__ = [
    "CurateConfig",
    "DecontamConfig",
    "DedupConfig",
    "DiversityConfig",
    "EmbedConfig",
    "ExportConfig",
    "ExercisesConfig",
    "FilterConfig",
    "IngestConfig",
    "KeepRule",
    "LLMConfig",
    "LabelConfig",
    "MinHashConfig",
    "Price",
    "QualityConfig",
    "RunConfig",
    "SeedConfig",
    "Settings",
    "SourceFormat",
    "SourceSpec",
    "StrictModel",
    "SynthConfig",
    "TextbookConfig",
    "api_key_from_env",
    "config_template",
    "load_config",
]

DEFAULT_CONFIG_FILE = "curate.yaml"


class RunConfig(StrictModel):
    """`curate run`, the main job: which stages run, and how big they are."""

    quality: bool = Field(
        default=True,
        description="Check every document with the quality rules and language ID (section `quality`) before "
        "labelling; failing ones leave `curated` with the rule as the reason.",
    )
    label_n: int = Field(
        default=40,
        ge=0,
        description="Documents `curate run` labels (0: skip). The embedded 1.5B model takes "
        "~15 s a document on 2 cores; `curate label --n` labels more.",
    )
    label_max_doc_tokens: int = Field(default=512, gt=0, description="Token budget per document in `curate run`.")
    train_and_score: bool = Field(
        default=True, description="Train the filter on the labels (when there are enough) and score every document."
    )
    dedup: bool = Field(
        default=True, description="Find exact and near-duplicates (after scoring: the best-scored copy survives)."
    )
    decontam: bool = Field(
        default=True,
        description="Find benchmark items in the documents (section `decontam`); contaminated ones leave `curated`.",
    )
    report: bool = Field(default=True, description="End with the HTML report, <data root>/report.html.")
    export_to: Path | None = Field(
        default=None, description="Then export to this folder (`curate export`); off unless set."
    )
    push_to: str | None = Field(
        default=None, description="Then push that export to this Hub dataset repository (needs export_to)."
    )
    runner: Literal["local", "dask"] = Field(
        default="local",
        description="Where the map stages (ingest units, scoring, MinHash signatures, decontamination shards) run: "
        "local threads, or a Dask cluster (one LocalCluster for the whole run, or dask_address).",
    )
    dask_address: str | None = Field(
        default=None, description="tcp://host:port of an existing Dask scheduler (with runner: dask)."
    )


class CurateConfig(StrictModel):
    """Everything `curate` needs: the environment settings and one section per stage."""

    settings: Settings = Field(default_factory=Settings)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    synth: SynthConfig = Field(default_factory=SynthConfig)
    instruct: InstructConfig = Field(default_factory=InstructConfig)
    export: ExportConfig = Field(default_factory=ExportConfig)
    serve: ServeConfig = Field(default_factory=ServeConfig)

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets replaced by '****'."""
        data = self.model_dump(mode="json")
        for key, value in self.settings:
            if isinstance(value, SecretStr):
                data["settings"][key] = "****"
        return data


def _format_validation_error(err: ValidationError, where: str, model: type[BaseModel]) -> str:
    lines = []
    for item in err.errors():
        loc = ".".join(str(p) for p in item["loc"])
        if item["type"] == "extra_forbidden":
            known = _known_keys(model, item["loc"][:-1])
            close = difflib.get_close_matches(str(item["loc"][-1]), known, n=1)
            msg = "unknown key" + (f" (did you mean '{close[0]}'?)" if close else "")
            if known:
                msg += f"; known keys here: {', '.join(sorted(known))}"
        else:
            msg = item["msg"]
            if "input" in item and not isinstance(item["input"], dict | list):
                msg += f" (got {item['input']!r})"
        lines.append(f"  {loc}: {msg}")
    return f"invalid configuration in {where}:\n" + "\n".join(lines)


def _known_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if isinstance(current, type) else None
        if field is None:
            return []
        current = _model_of(field.annotation)
        if current is None:
            return []
    return list(current.model_fields) if isinstance(current, type) else []


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _model_of(arg)
        if found is not None:
            return found
    return None


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for field, names in ENV_SETTINGS.items():
        for name in names:
            if environ.get(name):
                found[field] = environ[name]
                break
    return {"settings": found} if found else {}


def load_config(
    path: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> CurateConfig:
    """Load `curate.yaml` (or `path`), apply environment variables and CLI overrides, validate.

    With no path, `./curate.yaml` is used when it exists; otherwise the built-in defaults.
    """
    environ = os.environ if environ is None else environ
    data: dict[str, Any] = {}
    where = "defaults"
    if path is None and Path(DEFAULT_CONFIG_FILE).is_file():
        path = Path(DEFAULT_CONFIG_FILE)
    if path is not None:
        where = str(path)
        if not path.is_file():
            raise ConfigError(
                f"config file not found: {path}",
                hint="create one with `curate config init`, or drop --config to use the defaults",
            )
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}") from exc
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path} must hold a mapping of sections (settings, ingest, ...)")
        data = loaded
    data = _deep_merge(data, _env_overrides(environ))
    if overrides:
        data = _deep_merge(data, overrides)
    try:
        return CurateConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_validation_error(err, where, CurateConfig)) from None


def config_template() -> str:
    """A commented `curate.yaml` with the defaults, for `curate config init`."""
    defaults = CurateConfig().model_dump(mode="json")
    for key in ("llm_api_key", "hf_token"):
        defaults["settings"].pop(key, None)
    body = yaml.safe_dump(defaults, sort_keys=False)
    return (
        "# curate.yaml: configuration of the curators pipeline.\n"
        "# Secrets (CURATE_LLM_API_KEY / OPENAI_API_KEY, HF_TOKEN) belong in the environment.\n"
        "# Environment variables override this file; CLI options override both.\n" + body
    )
