"""Configuration of the educational-value filter: labelling, embeddings, the random forest."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from curators.settings import StrictModel


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
    quality_gate: bool = Field(
        default=True,
        description="Sample only documents that pass the quality rules and the language check (once `curate "
        "quality` ran): no labelling budget spent on boilerplate or the wrong language.",
    )


class EmbedConfig(StrictModel):
    """Sentence embeddings (used by training, scoring and, later, semantic dedup)."""

    model: str = Field(default="all-minilm-l6-v2", description="Packaged model name or a local model folder.")
    max_seq_length: int = Field(default=256, gt=0, le=8192, description="Tokens read per document.")
    batch_size: int = Field(default=32, gt=0)


class FilterConfig(StrictModel):
    """The educational-value filter: a random forest over embeddings, trained on the labels."""

    prompt: str | None = Field(default=None, description="Train on labels of this prompt id prefix (default: all).")
    threshold: int = Field(
        default=3,
        ge=1,
        le=5,
        description="keep = the predicted score rounds to >= threshold (score >= threshold - 0.5, as "
        "FineWeb-Edu's int(round(score)) >= 3).",
    )
    kind: Literal["regressor", "classifier"] = Field(default="regressor", description="Random forest kind.")
    n_estimators: int = Field(default=300, gt=0)
    min_labels: int = Field(default=20, gt=0, description="Refuse to train with fewer ok labels.")
    test_size: float = Field(default=0.25, gt=0, lt=1, description="Held-out share for evaluation.")
    seed: int = 0
