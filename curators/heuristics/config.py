"""Configuration of the quality stage (`curate quality`): the rules' thresholds, rules switched off, the
language check, and which documents labelling may sample. Which profile and languages apply to a source is
set on the source itself (`ingest.sources[].profile`, `ingest.languages` / `ingest.sources[].languages`):
`policies_for` resolves them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from curators.heuristics.code import CODE_RULES, CodeThresholds
from curators.heuristics.prose import PROSE_RULES, ProseThresholds
from curators.ingest.config import IngestConfig
from curators.settings import StrictModel

ALL_RULES: tuple[str, ...] = PROSE_RULES + CODE_RULES

Profile = Literal["prose", "code", "none"]


class QualityConfig(StrictModel):
    """The quality stage: cheap rules and language ID on every document, before any LLM or filter sees it."""

    prose: ProseThresholds = Field(
        default_factory=ProseThresholds, description="Gopher, C4 and FineWeb rules (datatrove's defaults)."
    )
    code: CodeThresholds = Field(default_factory=CodeThresholds, description="Code rules (The Stack / StarCoder).")
    skip_rules: list[str] = Field(
        default_factory=list,
        description="Rules measured but never failing a document (their verdict is recorded as passed).",
    )
    min_lang_score: float = Field(
        default=0.65,
        ge=0,
        le=1,
        description="A prose document is in a kept language only when the identifier is at least this sure "
        "(FineWeb: 0.65).",
    )

    @field_validator("skip_rules")
    @classmethod
    def _known_rules(cls, rules: list[str]) -> list[str]:
        unknown = sorted(set(rules) - set(ALL_RULES))
        if unknown:
            raise ValueError(f"unknown rule(s) {unknown}; the rules: {', '.join(ALL_RULES)}")
        return sorted(set(rules))


class SourcePolicy(StrictModel):
    """What the stage applies to one source's documents."""

    profile: Literal["auto", "prose", "code", "none"] = "auto"
    languages: list[str] | None = None  # kept languages (prose); None: every language


class Policies(StrictModel):
    """The policy of each configured source, and the one of any other source (ingested ad hoc)."""

    sources: dict[str, SourcePolicy] = Field(default_factory=dict)
    default: SourcePolicy = Field(default_factory=SourcePolicy)

    def of(self, source: str) -> SourcePolicy:
        return self.sources.get(source, self.default)


def policies_for(ingest: IngestConfig) -> Policies:
    """Each configured source's profile and kept languages (its own, else `ingest.languages`)."""
    default = SourcePolicy(languages=ingest.languages)
    return Policies(
        sources={
            s.source_name: SourcePolicy(
                profile=s.profile, languages=s.languages if s.languages is not None else ingest.languages
            )
            for s in ingest.sources
        },
        default=default,
    )


def resolve_profile(policy: SourcePolicy, code_language: str | None) -> Profile:
    """`auto`: code for a document read as code (ingest recorded its programming language), else prose."""
    if policy.profile != "auto":
        return policy.profile
    return "code" if code_language else "prose"
