"""Configuration of synthetic data: seeds, textbooks, exercises, diversity (decontamination: `curators.decontam`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from curators.settings import StrictModel


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
    diversity: DiversityConfig = Field(default_factory=DiversityConfig)
    dedup_against_docs: bool = Field(default=True, description="Near-duplicates of curated documents count too.")

    @model_validator(mode="before")
    @classmethod
    def _decontam_moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "decontam" in data:
            raise ValueError(
                "`synth.decontam` moved to the top-level `decontam:` section (it now checks documents too); "
                "move the block there"
            )
        return data
