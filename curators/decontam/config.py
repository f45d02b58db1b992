"""Configuration of decontamination: n-gram matching rules, which benchmark sets, and user JSONL sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from curators.settings import StrictModel


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
        from curators.decontam.benchsets import BENCHMARKS  # pyarrow: not imported by every `curate` command

        unknown = [n for n in names or [] if n not in BENCHMARKS]
        if unknown:
            raise ValueError(f"unknown benchmark(s) {unknown}; built-in: {', '.join(BENCHMARKS)}")
        return names
