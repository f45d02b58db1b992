"""Configuration: one pydantic model per stage, and one `Settings` object for the environment.

Precedence, lowest first: built-in defaults < `curate.yaml` < environment variables < CLI options.
Every model forbids unknown keys, so a typo in `curate.yaml` is an error that names the key.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from curators.errors import ConfigError

DEFAULT_CONFIG_FILE = "curate.yaml"
DEFAULT_DATA_ROOT = "curate-data"

SourceFormat = Literal["auto", "jsonl", "parquet", "csv", "text", "code", "hf", "python-stdlib"]


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


def api_key_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """The LLM API key from the environment (CURATE_LLM_API_KEY, then OPENAI_API_KEY)."""
    environ = os.environ if environ is None else environ
    return next((environ[n] for n in ENV_SETTINGS["llm_api_key"] if environ.get(n)), None)


class SourceSpec(StrictModel):
    """One input: a file, a folder, or the built-in `python-stdlib` corpus."""

    path: str = Field(description="File, folder, or the built-in name 'python-stdlib'.")
    format: SourceFormat = Field(default="auto", description="Reader; 'auto' picks by extension/content.")
    name: str | None = Field(default=None, description="Value of the `source` column (default: the path as given).")
    text_field: str = Field(default="text", description="Column/key holding the text (tabular sources).")
    id_field: str | None = Field(
        default=None, description="Column/key used as the locator (default: file + row number)."
    )
    meta_fields: list[str] | None = Field(
        default=None, description="Columns kept as metadata (default: every other column)."
    )
    extensions: list[str] | None = Field(
        default=None, description="File extensions read from a folder (text/code formats)."
    )
    encoding: str = Field(default="utf-8", description="Encoding of text files; invalid bytes are rejected.")

    @property
    def source_name(self) -> str:
        return self.name or self.path


class IngestConfig(StrictModel):
    """The ingest stage: which sources, how big a shard, what counts as a bad document."""

    sources: list[SourceSpec] = Field(default_factory=lambda: [SourceSpec(path="python-stdlib")])
    shard_rows: int = Field(default=10_000, gt=0, description="Rows per output shard.")
    shard_bytes: int = Field(default=64 * 1024 * 1024, gt=0, description="Text bytes per shard before it is flushed.")
    max_doc_bytes: int = Field(
        default=1024 * 1024, gt=0, description="Documents larger than this (UTF-8 bytes) are rejected."
    )
    files_per_unit: int = Field(default=400, gt=0, description="Files of a folder source handled by one task.")


class Price(StrictModel):
    """USD per million tokens."""

    input: float = Field(default=0.0, ge=0)
    output: float = Field(default=0.0, ge=0)


class LLMConfig(StrictModel):
    """How LLM calls are made: limits, retries, structured output, prices, and the embedded endpoint.

    The endpoint itself (base URL, model, key) is in `settings`; with no base URL the embedded
    llama.cpp server is started on `local_model`.
    """

    local_model: str = Field(
        default="qwen2.5-coder-1.5b-instruct-q4_k_m",
        description="Packaged model name or .gguf path for the embedded endpoint.",
    )
    local_n_ctx: int | None = Field(
        default=None, gt=0, description="Context of the embedded server (default: sized to the prompts)."
    )
    local_threads: int | None = Field(
        default=None, gt=0, description="Threads of the embedded server (default: all cores)."
    )
    concurrency: int = Field(default=16, gt=0, description="Requests in flight (the embedded server: always 1).")
    rpm: int | None = Field(default=None, gt=0, description="Requests per minute limit.")
    tpm: int | None = Field(default=None, gt=0, description="Tokens per minute limit (prompt + completion).")
    timeout_s: float = Field(default=120.0, gt=0, description="Seconds before a request is abandoned and retried.")
    max_attempts: int = Field(
        default=6, ge=1, description="Attempts per request on 429/5xx/timeouts/connection errors."
    )
    max_reasks: int = Field(default=2, ge=0, description="Re-asks after an answer that does not validate.")
    backoff_s: float = Field(default=1.0, gt=0, description="First retry delay; doubles each attempt, with jitter.")
    backoff_max_s: float = Field(default=60.0, gt=0)
    structured: Literal["auto", "json_schema", "json_object_schema", "json_object", "none"] = Field(
        default="auto",
        description="How to ask for JSON: auto = json_object with a schema (llama.cpp grammar) for the embedded "
        "server, json_schema elsewhere; falls back when an endpoint refuses it.",
    )
    prices: dict[str, Price] = Field(default_factory=dict, description="Per model: USD per million tokens.")


class LabelConfig(StrictModel):
    """The labelling stage: which documents, which prompt, how much of each document."""

    n: int = Field(default=200, gt=0, description="Documents to label.")
    strategy: Literal["diverse", "random"] = Field(
        default="diverse", description="diverse: per source, k-means spread + random fill; random: seeded order."
    )
    more: int = Field(
        default=0,
        ge=0,
        description="Top-up round: label this many documents the newest filter is "
        "least sure about (instead of a new sample).",
    )
    seed: int = Field(default=0, description="Seed of the sample.")
    prompt: str | None = Field(default=None, description="task[@version]; default: edu-code for code, edu for prose.")
    max_doc_tokens: int = Field(default=1024, gt=0, description="Documents are cut to this many tokens (~4 chars).")
    batch: int = Field(default=16, gt=0, description="Documents per labels shard.")


class EmbedConfig(StrictModel):
    """Sentence embeddings (used by training, scoring and, later, semantic dedup)."""

    model: str = Field(default="all-minilm-l6-v2", description="Packaged model name or a local model folder.")
    max_seq_length: int = Field(default=256, gt=0, le=8192, description="Tokens read per document.")
    batch_size: int = Field(default=32, gt=0)


class FilterConfig(StrictModel):
    """The educational-value filter: a random forest over embeddings, trained on the labels."""

    prompt: str | None = Field(default=None, description="Train on labels of this prompt id prefix (default: all).")
    threshold: int = Field(default=3, ge=1, le=5, description="keep = predicted score >= threshold.")
    kind: Literal["regressor", "classifier"] = Field(default="regressor", description="Random forest kind.")
    n_estimators: int = Field(default=300, gt=0)
    min_labels: int = Field(default=20, gt=0, description="Refuse to train with fewer ok labels.")
    test_size: float = Field(default=0.25, gt=0, lt=1, description="Held-out share for evaluation.")
    seed: int = 0


class RunConfig(StrictModel):
    """`curate run`, the main job: which stages run, and how big they are."""

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


class MinHashConfig(StrictModel):
    """How documents become signatures and LSH band keys. Signatures are reused by runs with the same values."""

    lowercase: bool = Field(default=True, description="Compare case-insensitively.")
    strip_punctuation: bool = Field(default=True, description="Drop punctuation (else one token per mark).")
    normalize_digits: bool = Field(default=True, description="Every digit becomes 0.")
    strip_diacritics: bool = Field(default=True, description="é -> e (Latin combining marks only).")
    shingle: Literal["word", "char"] = Field(default="word", description="Word or character n-grams.")
    ngram: int = Field(default=5, ge=1, le=64, description="Shingle size in words or characters.")
    threshold: float = Field(
        default=0.8, gt=0.0, lt=1.0, description="Jaccard similarity at or above which two documents are duplicates."
    )
    num_perm: int = Field(default=112, ge=8, le=1024, description="MinHash permutations (when bands/rows not set).")
    bands: int | None = Field(default=None, ge=1, description="LSH bands; set with rows, or derived from threshold.")
    rows: int | None = Field(default=None, ge=1, description="Rows per band.")
    seed: int = Field(default=1, description="Seed of the permutations (datasketch's `seed`).")

    @model_validator(mode="after")
    def _bands_and_rows_together(self) -> MinHashConfig:
        if (self.bands is None) != (self.rows is None):
            raise ValueError("set both `bands` and `rows`, or neither (then they are derived from `threshold`)")
        return self

    @property
    def lsh(self) -> tuple[int, int]:
        """(bands, rows): as set, or derived from the threshold."""
        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        from curators.minhash import lsh_params

        return lsh_params(self.threshold, self.num_perm)

    @property
    def permutations(self) -> int:
        bands, rows = self.lsh
        return bands * rows

    @property
    def sig_config(self) -> str:
        return stable_hash(self)


KeepRule = Literal["score", "length", "earliest"]


class DedupConfig(StrictModel):
    """The dedup stage: which duplicates to find, how to verify them, and which member to keep."""

    minhash: MinHashConfig = Field(default_factory=MinHashConfig)
    exact: bool = Field(default=True, description="Find exact duplicates (same normalised tokens).")
    near: bool = Field(default=True, description="Find near-duplicates with MinHash LSH.")
    verify: Literal["jaccard", "minhash"] = Field(
        default="jaccard", description="Check candidates by exact Jaccard of shingle sets, or by the MinHash estimate."
    )
    keep: list[KeepRule] = Field(
        default_factory=lambda: ["score", "length", "earliest"],
        description="Survivor policy, in order of precedence.",
    )
    all_pairs_max_bucket: int = Field(default=32, ge=2, description="Buckets up to this size pair all members.")
    verify_block_pairs: int = Field(default=20_000, ge=1, description="Candidate pairs verified per block.")
    semantic: Literal["off", "report", "remove"] = Field(
        default="off", description="Cosine near-duplicates over stored embeddings: report them, or also remove."
    )
    semantic_threshold: float = Field(default=0.95, gt=0.0, le=1.0)
    semantic_cluster_size: int = Field(default=1000, ge=10, description="Mean k-means cluster size searched.")
    memory_limit: str = Field(default="2GB", description="DuckDB memory limit while grouping band keys.")

    @field_validator("semantic", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value  # YAML reads a bare `off` as false

    @property
    def verify_config(self) -> str:
        """What a verified pair's outcome depends on (a later run reuses pairs with the same value)."""
        return hashlib.sha256(f"{self.minhash.sig_config}:{self.verify}".encode()).hexdigest()[:12]


class SeedConfig(StrictModel):
    """How to draw diversity seeds."""

    n: int = Field(default=100, ge=1, description="Number of seeds (web mode: at most this many).")
    seed: int = Field(default=0, description="RNG seed: the same seed and axes give the same seeds.")
    mode: Literal["taxonomy", "web"] = Field(
        default="taxonomy", description="taxonomy: draw the topic axes; web: seed from top-scored curated documents."
    )
    weights: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Per axis (subject, topic, audience, style), per value weight; default 1, 0 removes a value.",
    )
    axes_dir: Path | None = Field(
        default=None, description="Folder with replacement axis files (topics.yaml, ...); absent files: packaged."
    )
    vocabulary_words: int = Field(
        default=3, ge=0, description="Words to weave in: noun, verb, adjective in turn; 0 disables."
    )
    use_persona: bool = Field(default=True, description="Draw a persona for each seed.")
    extract_chars: int = Field(default=1000, ge=1, description="Web seeds: longest extract, in characters.")
    web_min_score: float = Field(default=3.0, description="Web seeds: lowest document score used.")


class DecontamConfig(StrictModel):
    """How generations are checked against benchmark sets (rules: the module docstring)."""

    ngram: int = Field(default=13, ge=3, le=64, description="Words per n-gram (10 by default with ngram+difflib).")
    method: Literal["ngram", "ngram+difflib"] = Field(
        default="ngram", description="'ngram', or Cosmopedia's 'ngram+difflib'."
    )
    difflib_threshold: float = Field(
        default=0.5, ge=0, lt=1, description="ngram+difflib: a match needs a difflib ratio above this."
    )
    min_ngram_overlap: float = Field(
        default=0.0, ge=0, le=1, description="Share of an item's n-grams the text must hold (0: any one)."
    )
    min_item_words: int = Field(
        default=8, ge=1, description="Items shorter than `ngram` words but this long are one n-gram; shorter: skipped."
    )
    max_items_per_ngram: int = Field(
        default=20, ge=1, description="An n-gram shared by more items than this is boilerplate and not indexed."
    )
    benchmarks: list[str] | None = Field(default=None, description="Built-in benchmarks (None: every installed one).")
    extra_jsonl: list[Path] = Field(default_factory=list, description="User benchmark files, JSONL, one item a line.")

    @model_validator(mode="before")
    @classmethod
    def _cosmopedia_ngram(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("method") == "ngram+difflib" and "ngram" not in data:
            data = {**data, "ngram": 10}
        return data

    @field_validator("benchmarks")
    @classmethod
    def _known_benchmarks(cls, names: list[str] | None) -> list[str] | None:
        from curators.synth.benchsets import BENCHMARKS

        unknown = [n for n in names or [] if n not in BENCHMARKS]
        if unknown:
            raise ValueError(f"unknown benchmark(s) {unknown}; built-in: {', '.join(BENCHMARKS)}")
        return names


class DiversityConfig(StrictModel):
    """How diversity is measured; see the module docstring for which metrics use the sample."""

    sample_size: int = Field(default=1000, ge=1, description="Sample-based metrics use at most this many texts.")
    seed: int = Field(default=0, description="Seed of the sample.")
    distinct_tokens: int = Field(
        default=50_000, ge=1, description="distinct-n is computed on the first this-many tokens of the sample."
    )
    nn_cosine: float = Field(default=0.9, ge=-1.0, le=1.0, description="Nearest-neighbour cosine threshold.")
    opening_words: int = Field(default=4, ge=1, description="Words that make an opening.")
    min_group_size: int = Field(default=5, ge=1, description="Per-axis groups smaller than this are flagged.")


class TextbookConfig(StrictModel):
    """Synthetic textbooks: one generation per seed."""

    prompt: str = Field(default="textbook", description="Prompt task or task@version (prompts/textbook/).")
    max_tokens: int | None = Field(default=None, ge=16, description="Override the template's max_tokens.")
    temperature: float | None = Field(default=None, ge=0.0, le=2.0, description="Override the template's temperature.")
    min_chars: int = Field(default=400, ge=0, description="Shorter generations are kept as status too_short.")
    strip_openings: bool = Field(default=True, description="Remove boilerplate openings (Sure!, Once upon a time...).")
    trim_truncated: bool = Field(
        default=False,
        description="Keep a generation cut at the token limit, trimmed to its last full sentence (default: "
        "status truncated, not kept).",
    )
    batch: int = Field(default=16, ge=1, description="Generations per shard (the unit of resume).")


class ExercisesConfig(StrictModel):
    """Exercises with worked solutions, written from each textbook (phi-1's CodeExercises idea)."""

    prompt: str = Field(default="exercises", description="Prompt task or task@version (prompts/exercises/).")
    per_textbook: int = Field(default=3, ge=1, le=20, description="Exercises asked per textbook.")
    max_textbook_chars: int = Field(default=3000, ge=200, description="Textbook text sent, cut at a paragraph.")
    max_tokens: int | None = Field(default=None, ge=16, description="Override the template's max_tokens.")
    batch: int = Field(default=16, ge=1, description="Textbooks per shard (the unit of resume).")


class SynthConfig(StrictModel):
    """Synthetic data: seeds, textbooks, exercises, and the quality gates applied to them."""

    seeds: SeedConfig = Field(default_factory=SeedConfig)
    textbook: TextbookConfig = Field(default_factory=TextbookConfig)
    exercises: ExercisesConfig = Field(default_factory=ExercisesConfig)
    decontam: DecontamConfig = Field(default_factory=DecontamConfig)
    diversity: DiversityConfig = Field(default_factory=DiversityConfig)
    dedup_against_docs: bool = Field(default=True, description="Near-duplicates of curated documents count too.")


class CurateConfig(StrictModel):
    """Everything `curate` needs: the environment settings and one section per stage."""

    settings: Settings = Field(default_factory=Settings)
    ingest: IngestConfig = Field(default_factory=IngestConfig)
    llm: LLMConfig = Field(default_factory=LLMConfig)
    label: LabelConfig = Field(default_factory=LabelConfig)
    embed: EmbedConfig = Field(default_factory=EmbedConfig)
    filter: FilterConfig = Field(default_factory=FilterConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    dedup: DedupConfig = Field(default_factory=DedupConfig)
    synth: SynthConfig = Field(default_factory=SynthConfig)

    def masked(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets replaced by '****'."""
        data = self.model_dump(mode="json")
        for key, value in self.settings:
            if isinstance(value, SecretStr):
                data["settings"][key] = "****"
        return data


def stable_hash(model: BaseModel) -> str:
    """Short sha256 of a config model's canonical JSON (secrets excluded): names a stage's inputs."""
    data = model.model_dump(mode="json")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


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
