"""The quality stage's warehouse reads and writes: one `quality` shard per docs shard (through the shard mapper),
and the per-rule and per-language counts of the current documents."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from curators.heuristics.config import ALL_RULES, Policies, QualityConfig
from curators.heuristics.langid import LANGID_MODEL
from curators.heuristics.quality import Document, code_language, quality_table
from warehouse.catalog import connect, query
from warehouse.mapper import Mapped, map_shard

READ_BATCH = 2048


def depends_on(config: QualityConfig, policies: Policies) -> str:
    """What a quality shard depends on besides its docs shard: thresholds, policies, the language model."""
    return json.dumps(
        {"config": config.model_dump(mode="json"), "policies": policies.model_dump(mode="json"), "lid": LANGID_MODEL},
        sort_keys=True,
    )


def quality_shard(root: Path, run_id: str, docs_shard: str, config: QualityConfig, policies: Policies) -> Mapped:
    """The quality rows of one docs shard (read in batches; one output shard)."""

    def compute(path: Path) -> pa.Table:
        parts = []
        for batch in pq.ParquetFile(path).iter_batches(batch_size=READ_BATCH, columns=["id", "source", "text", "meta"]):
            docs = [
                Document(id=r["id"], source=r["source"], text=r["text"], code_language=code_language(r["meta"]))
                for r in batch.to_pylist()
            ]
            parts.append(quality_table(docs, policies, config, run_id))
        return pa.concat_tables(parts) if parts else quality_table([], policies, config, run_id)

    return map_shard(root, run_id, "quality", docs_shard, depends_on(config, policies), compute)


@dataclass(frozen=True)
class RuleCount:
    rule: str
    applied: int  # documents the rule was applied to (its profile)
    failed: int
    example: str | None  # the reason of one failing document

    @property
    def pass_rate(self) -> float | None:
        return None if not self.applied else 1 - self.failed / self.applied


def rule_counts(root: Path) -> list[RuleCount]:
    """For every rule: how many current documents it was applied to and how many failed it (of the latest
    quality run), in rule order."""
    selects = ", ".join(
        f"count({r}), count(*) FILTER (WHERE NOT {r}.passed), any_value({r}.reason) FILTER (WHERE NOT {r}.passed)"
        for r in ALL_RULES
    )
    _, rows = query(root, f"SELECT {selects} FROM quality q SEMI JOIN docs d USING (id)")
    values = rows[0]
    return [
        RuleCount(rule, int(values[3 * k] or 0), int(values[3 * k + 1] or 0), values[3 * k + 2])
        for k, rule in enumerate(ALL_RULES)
    ]


@dataclass(frozen=True)
class QualityTotals:
    documents: int  # current documents
    checked: int  # with a quality row
    passed: int  # passed every rule
    lang_ok: int
    kept: int  # passed and in a kept language
    languages: list[tuple[str, int]]  # (lang, documents) of prose, most first
    profiles: dict[str, int]


def quality_totals(root: Path) -> QualityTotals:
    with connect(root) as con:  # one connection for the three queries (each `query` opens the catalog again)
        documents, checked, passed, lang_ok, kept = con.execute(
            """SELECT count(*), count(q.id), count(*) FILTER (WHERE q.passed), count(*) FILTER (WHERE q.lang_ok),
                      count(*) FILTER (WHERE q.passed AND q.lang_ok)
               FROM docs d LEFT JOIN quality q USING (id)"""
        ).fetchone()
        langs = con.execute(
            "SELECT lang, count(*) FROM quality SEMI JOIN docs USING (id) WHERE profile = 'prose' GROUP BY 1 "
            "ORDER BY 2 DESC, 1"
        ).fetchall()
        profiles = con.execute(
            "SELECT profile, count(*) FROM quality SEMI JOIN docs USING (id) GROUP BY 1 ORDER BY 1"
        ).fetchall()
    return QualityTotals(
        documents=documents,
        checked=checked,
        passed=passed,
        lang_ok=lang_ok,
        kept=kept,
        languages=[(r[0], r[1]) for r in langs],
        profiles={r[0]: r[1] for r in profiles},
    )
