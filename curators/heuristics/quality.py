"""The quality table of a batch of documents, in memory: each document's profile, every rule of its profile
(value, verdict, reason), its language, and whether it passes. Rules outside a document's profile are null
(not applied); a document is never removed here: `curated` leaves out those that fail."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa

from curators.heuristics.code import code_verdicts
from curators.heuristics.config import ALL_RULES, Policies, Profile, QualityConfig, resolve_profile
from curators.heuristics.langid import LANGID_MODEL, identify
from curators.heuristics.prose import prose_verdicts
from curators.heuristics.verdicts import Verdict
from warehouse.schemas import QUALITY


@dataclass(frozen=True)
class Document:
    id: str
    source: str
    text: str
    code_language: str | None  # what ingest recorded for a code file (meta.language), else None


def code_language(meta: str | None) -> str | None:
    """The programming language ingest recorded in a document's meta (code files), or None."""
    if not meta:
        return None
    try:
        value = json.loads(meta)
    except ValueError:
        return None
    language = value.get("language") if isinstance(value, dict) else None
    return language if isinstance(language, str) and language else None


def verdicts_of(doc: Document, profile: Profile, config: QualityConfig) -> list[Verdict]:
    """The verdicts of the document's profile; a rule in `skip_rules` is measured but passes."""
    if profile == "prose":
        found = prose_verdicts(doc.text, config.prose)
    elif profile == "code":
        found = code_verdicts(doc.text, doc.code_language, config.code)
    else:
        return []
    skip = set(config.skip_rules)
    return [Verdict(v.rule, v.value, True, None) if v.rule in skip and not v.passed else v for v in found]


def language_ok(profile: Profile, kept: list[str] | None, lang: str, score: float, min_score: float) -> bool:
    """Only prose is language-checked: with kept languages, its language must be one of them, surely enough."""
    if profile != "prose" or kept is None:
        return True
    return lang in kept and score >= min_score


def quality_table(docs: Sequence[Document], policies: Policies, config: QualityConfig, run_id: str) -> pa.Table:
    """One `quality` row per document."""
    languages = identify([d.text for d in docs]) if docs else []
    columns: dict[str, list] = {name: [] for name in QUALITY.names}
    for doc, (lang, lang_score) in zip(docs, languages, strict=True):
        policy = policies.of(doc.source)
        profile = resolve_profile(policy, doc.code_language)
        verdicts = {v.rule: v for v in verdicts_of(doc, profile, config)}
        failed = [rule for rule, v in verdicts.items() if not v.passed]
        columns["id"].append(doc.id)
        columns["source"].append(doc.source)
        columns["profile"].append(profile)
        columns["code_language"].append(doc.code_language)
        columns["lang"].append(lang)
        columns["lang_score"].append(float(lang_score))
        columns["lang_ok"].append(language_ok(profile, policy.languages, lang, lang_score, config.min_lang_score))
        columns["langid_model"].append(LANGID_MODEL)
        for rule in ALL_RULES:
            v = verdicts.get(rule)
            columns[rule].append(None if v is None else {"value": v.value, "passed": v.passed, "reason": v.reason})
        columns["passed"].append(not failed)
        columns["failed"].append(failed)
        columns["run_id"].append(run_id)
    return pa.table(columns, schema=QUALITY)
