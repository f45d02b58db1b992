"""Configuration of the ingest stage: the sources and the shape of its shards."""

from __future__ import annotations

from pathlib import Path  # noqa: F401
from typing import Literal

from pydantic import Field

from curators.settings import StrictModel

QualityProfile = Literal["auto", "prose", "code", "none"]
SourceFormat = Literal["auto", "jsonl", "parquet", "csv", "text", "code", "hf", "python-stdlib"]


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
    profile: QualityProfile = Field(
        default="auto",
        description="Quality rules for its documents (`curate quality`): prose (Gopher, C4, FineWeb), code (line "
        "lengths, alphanumeric share, generated and data files), none, or auto (code for code files, else prose).",
    )
    languages: list[str] | None = Field(
        default=None,
        description="Languages kept from this source (ISO 639-1, e.g. [en]); default: ingest.languages. "
        "Prose only: code is not language-checked.",
    )

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
    split_bytes: int = Field(
        # 16 MiB: a file of that size already runs in worker processes, and its shards are the units every later
        # map stage (quality, dedup's signatures, decontam, score) parallelises over.
        default=16 * 1024 * 1024,
        gt=0,
        description="A plain JSON Lines file larger than this is read as several units of at most about this size "
        "(byte ranges starting at line starts; a multiple of the cores) that run in parallel. Ids do not depend on "
        "it. Not with id_field.",
    )
    languages: list[str] | None = Field(
        default=None,
        description="Languages kept in `curated` (ISO 639-1, e.g. [en]; identified by `curate quality`); "
        "default: every language. A source's own `languages` wins.",
    )
