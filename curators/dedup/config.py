"""Configuration of deduplication: normalisation, shingles, MinHash LSH, verification, survivors."""

from __future__ import annotations

import hashlib
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from curators.settings import StrictModel
from warehouse.ids import fingerprint, stable_hash

# The version of the token hash (`curators.dedup.token_hash`): part of `sig_config`, so that signatures
# made with another one are computed again, never compared with these. 2: the word-based hash (1 was xxh3_64).
TOKEN_HASH_VERSION = 2


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
        from curators.dedup.lsh import lsh_params  # numpy: not imported by every `curate` command

        return lsh_params(self.threshold, self.num_perm)

    @property
    def permutations(self) -> int:
        bands, rows = self.lsh
        return bands * rows

    @property
    def sig_config(self) -> str:
        """Names these signatures: the settings and the token hash's version."""
        return fingerprint(stable_hash(self), f"token-hash-v{TOKEN_HASH_VERSION}")[:12]


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
    verify_block_pairs: int = Field(
        default=20_000, ge=1, description="Candidate pairs verified per block (a task of the dedup flow)."
    )
    band_tasks: int = Field(
        default=4, ge=1, description="LSH band keys are grouped in this many tasks, each a range of bands."
    )
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
