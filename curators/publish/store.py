"""The publish stage's warehouse reads: the rows of each product (in a stable order, as Arrow batches), and
the facts of the dataset card (stages that ran, the funnel, the filter, dedup, decontamination, labels)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyarrow as pa

from curators.synth.config import DiversityConfig
from warehouse.catalog import query, reading

# Each product's rows, ordered by id so that two exports of one warehouse are the same bytes. Every row
# carries what traces it back: its id, source and locator (documents) or seed (generations), and run ids.
PRODUCT_SQL = {
    "pretrain": """
        SELECT id, text, source, locator, score, meta, run_id AS ingest_run_id FROM curated ORDER BY id
    """,
    "textbooks": """
        SELECT g.id, g.text, g.seed_id, y.subject, y.topic, y.subtopic, y.audience, y.style, g.model, g.prompt_id,
               y.score, g.run_id AS synth_run_id
        FROM synthetic y JOIN generations g USING (id) WHERE y.usable AND g.task = 'textbook' ORDER BY g.id
    """,
    "exercises": """
        SELECT g.id, g.text, g.parent_id, g.seed_id, y.subject, y.topic, y.subtopic, g.model, g.prompt_id,
               y.score, g.run_id AS synth_run_id
        FROM synthetic y JOIN generations g USING (id) WHERE y.usable AND g.task = 'exercise' ORDER BY g.id
    """,
    # TRL's conversational shapes (`SFTTrainer`: messages; `DPOTrainer`: prompt, chosen, rejected).
    "sft": """
        SELECT messages, instruction_id, response_id, method, model, judge, rating, run_id AS responses_run_id
        FROM sft ORDER BY instruction_id
    """,
    "dpo": """
        SELECT prompt, chosen, rejected, prompt_id, pair_id, method, chosen_rating, rejected_rating, margin, judge,
               swap_consistent, chosen_model, rejected_model, run_id AS preferences_run_id
        FROM dpo ORDER BY pair_id
    """,
    # Every input or row that did not make it, with its reason: input rejects, dropped documents, and
    # generations that are not usable.
    "rejected": """
        SELECT * FROM (
            SELECT NULL::VARCHAR AS id, 'ingest' AS stage, reason, detail, source, locator, run_id FROM rejects
            UNION ALL
            SELECT p.id, 'curate', p.reason, p.detail, p.source, p.locator, d.run_id
            FROM dropped p JOIN docs d USING (id)
            UNION ALL
            SELECT y.id, 'synth',
                   CASE WHEN y.status <> 'ok' THEN y.status WHEN y.is_dup THEN 'duplicate'
                        WHEN y.contaminated THEN 'contaminated' ELSE 'below_threshold' END,
                   coalesce(y.reason, CASE WHEN y.is_dup THEN 'duplicate of ' || y.dup_of
                                           WHEN y.contaminated THEN 'holds items of ' || y.benchmarks
                                           ELSE 'score ' || round(y.score, 2) END),
                   'synthetic', y.seed_id, g.run_id
            FROM synthetic y JOIN generations g USING (id) WHERE NOT y.usable
            UNION ALL
            SELECT i.id, 'instruct',
                   CASE WHEN i.status <> 'ok' THEN i.status WHEN i.is_dup THEN 'duplicate' ELSE 'contaminated' END,
                   coalesce(i.reason, CASE WHEN i.is_dup THEN 'duplicate of ' || i.dup_of
                                           ELSE 'holds items of ' || i.benchmarks END),
                   'instructions:' || i.method, i.seed_id, i.run_id
            FROM instruction_pool i WHERE NOT i.usable
            UNION ALL
            SELECT p.pair_id, 'preferences', p.status, p.reason, 'preferences', p.instruction_id, p.run_id
            FROM preferences p WHERE p.status <> 'ok'
        ) ORDER BY stage, source, locator, reason, id
    """,
}


# With `export.sft_synthetic`: the usable textbooks and exercises join `sft` as single-turn conversations.
SFT_WITH_SYNTHETIC = f"""
    SELECT * FROM ({PRODUCT_SQL["sft"]}) UNION ALL
    SELECT messages, instruction_id, response_id, method, model, judge, rating, run_id AS responses_run_id
    FROM sft_synthetic ORDER BY instruction_id
"""


def product_sql(name: str, sft_synthetic: bool = False) -> str:
    return SFT_WITH_SYNTHETIC if name == "sft" and sft_synthetic else PRODUCT_SQL[name]


def product_rows(root: Path, sft_synthetic: bool = False) -> dict[str, int]:
    """Rows of every product."""
    return {
        name: query(root, f"SELECT count(*) FROM ({product_sql(name, sft_synthetic)})")[1][0][0] for name in PRODUCT_SQL
    }


@contextmanager
def product_reader(
    root: Path, name: str, batch_rows: int = 2048, sft_synthetic: bool = False
) -> Iterator[pa.RecordBatchReader]:
    """One product's rows as Arrow batches, in its stable order."""
    with reading(root, product_sql(name, sft_synthetic), batch_rows) as reader:
        yield reader


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@contextmanager
def uncounted_texts(root: Path, tokenizer: str, batch_rows: int = 2048) -> Iterator[pa.RecordBatchReader]:
    """(text_hash, text) of the current documents whose tokens `tokenizer` has not counted yet."""
    sql = f"""
        SELECT d.text_hash, d.text FROM docs d
        ANTI JOIN (SELECT text_hash FROM doc_tokens WHERE tokenizer = {_literal(tokenizer)}) t USING (text_hash)
    """
    with reading(root, sql, batch_rows) as reader:
        yield reader


def counted_tokenizers(root: Path) -> list[str]:
    """Tokenizers that counted tokens of the current documents, the one that counted most first."""
    _, rows = query(
        root,
        "SELECT t.tokenizer FROM doc_tokens t SEMI JOIN docs d USING (text_hash) GROUP BY 1 ORDER BY count(*) DESC, 1",
    )
    return [r[0] for r in rows]


def funnel_tokens(root: Path, tokenizer: str) -> dict[str, int | None]:
    """The funnel's steps in tokens of `tokenizer` (None where a document of the step has no count yet)."""
    steps = _rows(
        root,
        f"""
        WITH t AS (SELECT d.id, k.tokens FROM docs d
                   LEFT JOIN (SELECT * FROM doc_tokens WHERE tokenizer = {_literal(tokenizer)}) k USING (text_hash))
        SELECT 'documents' AS step, count(*) - count(tokens) AS missing, sum(tokens) AS tokens FROM t
        UNION ALL
        SELECT 'kept', count(*) - count(tokens), sum(tokens) FROM t SEMI JOIN curated c USING (id)
        UNION ALL
        SELECT x.reason, count(*) - count(tokens), sum(tokens)
        FROM t JOIN (SELECT DISTINCT id, reason FROM dropped) x USING (id) GROUP BY x.reason
        """,
    )
    found = {r["step"]: (None if r["missing"] else int(r["tokens"] or 0)) for r in steps}
    names = {
        "heuristics": "heuristics",
        "language": "language",
        "not_checked": "not_checked",
        "below_threshold": "below_threshold",
        "not_scored": "not_scored",
        "duplicate": "duplicates",
    }
    out: dict[str, int | None] = {"documents": found.get("documents"), "kept": found.get("kept")}
    for reason, key in {**names, "contaminated": "contaminated"}.items():
        out[key] = found.get(reason, 0)
    return out


def quality_rules(root: Path) -> list[dict[str, Any]]:
    """Each quality rule applied to current documents: applied, failed, pass rate (empty before `curate quality`)."""
    from curators.heuristics.store import rule_counts

    return [
        {"rule": r.rule, "applied": r.applied, "failed": r.failed, "pass_rate": r.pass_rate}
        for r in rule_counts(root)
        if r.applied
    ]


def _rows(root: Path, sql: str) -> list[dict[str, Any]]:
    columns, rows = query(root, sql)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def synthetic_diversity(root: Path, diversity: DiversityConfig | None = None) -> dict[str, Any]:
    """Diversity of the synthetic sets: textbooks and exercises overall and per seed axis, instructions per
    method (empty where there are none)."""
    from curators.instruct.store import instruction_diversity
    from curators.synth.store import diversity_facts

    diversity = diversity or DiversityConfig()
    _, generations = query(root, "SELECT count(*) FROM generations WHERE status = 'ok'")
    facts: dict[str, Any] = {"overall": None, "by_axis": [], "instructions": []}
    if generations[0][0]:
        facts |= diversity_facts(root, diversity)
    _, instructions = query(root, "SELECT count(*) FROM instruction_pool WHERE usable")
    if instructions[0][0]:
        facts["instructions"] = instruction_diversity(root, diversity)
    return facts


def card_facts(root: Path, tokenizer: str | None = None, diversity: DiversityConfig | None = None) -> dict[str, Any]:
    """What the card tells, read from the warehouse: plain data, no secrets (run configs are stored without).
    `tokenizer`: the funnel in its tokens too, when it counted them (`count_document_tokens`)."""
    runs = _rows(
        root,
        """
        SELECT flow, arg_max(run_id, coalesce(finished, started)) AS run_id,
               arg_max(counts, coalesce(finished, started)) AS counts,
               arg_max(versions, coalesce(finished, started)) AS versions,
               max(coalesce(finished, started))::VARCHAR AS finished
        FROM runs WHERE status = 'finished' GROUP BY flow ORDER BY min(started)
        """,
    )
    funnel = _rows(
        root,
        """
        SELECT (SELECT count(*) FROM docs) + (SELECT count(*) FROM rejects) AS seen,
               (SELECT count(*) FROM rejects) AS rejected_at_ingest,
               (SELECT count(*) FROM docs) AS documents,
               (SELECT count(DISTINCT id) FROM dropped WHERE reason = 'heuristics') AS heuristics,
               (SELECT count(DISTINCT id) FROM dropped WHERE reason = 'language') AS language,
               (SELECT count(DISTINCT id) FROM dropped WHERE reason = 'not_checked') AS not_checked,
               (SELECT count(DISTINCT id) FROM dropped
                WHERE reason IN ('heuristics', 'language', 'not_checked')) AS quality_dropped,
               (SELECT count(DISTINCT id) FROM dropped
                WHERE reason IN ('heuristics', 'language', 'not_checked', 'below_threshold', 'not_scored'))
                   AS quality_or_filter_dropped,
               (SELECT count(DISTINCT id) FROM dropped WHERE reason = 'below_threshold') AS below_threshold,
               (SELECT count(DISTINCT id) FROM dropped WHERE reason = 'not_scored') AS not_scored,
               (SELECT count(DISTINCT id) FROM dropped WHERE reason = 'duplicate') AS duplicates,
               (SELECT count(DISTINCT id) FROM dropped WHERE reason = 'contaminated') AS contaminated,
               (SELECT count(*) FROM curated) AS kept,
               (SELECT coalesce(sum(n_bytes), 0) FROM docs) AS document_bytes,
               (SELECT coalesce(sum(n_bytes), 0) FROM curated) AS kept_bytes
        """,
    )[0]
    filters = _rows(
        root,
        """
        SELECT filter_id, kind, embedder, labellers, n_labels, threshold, f1, baseline_f1, metrics
        FROM filters_all ORDER BY created DESC LIMIT 1
        """,
    )
    newest_filter = filters[0] if filters else None
    if newest_filter:
        newest_filter["labellers"] = json.loads(newest_filter["labellers"] or "[]")
        newest_filter["metrics"] = json.loads(newest_filter["metrics"] or "{}")
    tokens_by = tokenizer if tokenizer in counted_tokenizers(root) else None
    return {
        "funnel_tokens": funnel_tokens(root, tokens_by) if tokens_by else None,
        "tokens_by": tokens_by,
        "diversity": synthetic_diversity(root, diversity),
        "s_curve": _latest_s_curve(root),
        "usage": _rows(
            root,
            """
            SELECT 'label' AS stage, model, count(*) AS requests, coalesce(sum(tokens_in), 0) AS tokens_in,
                   coalesce(sum(tokens_out), 0) AS tokens_out, coalesce(sum(cost_usd), 0) AS cost_usd
            FROM labels GROUP BY 1, 2
            UNION ALL
            SELECT task, model, count(*), coalesce(sum(tokens_in), 0), coalesce(sum(tokens_out), 0),
                   coalesce(sum(cost_usd), 0)
            FROM generations GROUP BY 1, 2 ORDER BY 1, 2
            """,
        ),
        "prompts": _rows(
            root,
            """
            SELECT prompt_id, 'label' AS stage, count(*) AS n FROM labels GROUP BY 1
            UNION ALL SELECT prompt_id, task, count(*) FROM generations GROUP BY 1, 2 ORDER BY 1
            """,
        ),
        "label_example": next(
            iter(
                _rows(
                    root,
                    "SELECT l.prompt_id, d.text FROM labels l JOIN docs d USING (id) "
                    "WHERE l.status = 'ok' ORDER BY l.id LIMIT 1",
                )
            ),
            None,
        ),
        "runs": runs,
        "funnel": funnel,
        "quality_rules": quality_rules(root),
        "rejects": _rows(root, "SELECT reason, count(*) AS n FROM rejects GROUP BY 1 ORDER BY 2 DESC, 1"),
        "sources": _rows(
            root,
            """
            SELECT d.source, count(*) AS documents, count(c.id) AS kept
            FROM docs d LEFT JOIN curated c USING (id) GROUP BY 1 ORDER BY 1
            """,
        ),
        "labels": _rows(
            root,
            """
            SELECT model, prompt_id, score, count(*) AS n FROM labels WHERE status = 'ok'
            GROUP BY ALL ORDER BY model, prompt_id, score
            """,
        ),
        "filter": newest_filter,
        "dups": _rows(root, "SELECT method, count(*) AS n FROM dups WHERE target = 'docs' GROUP BY 1 ORDER BY 1"),
        "contamination": _rows(
            root,
            """
            SELECT target, benchmark, count(DISTINCT id) AS flagged, count(DISTINCT item_id) AS items
            FROM contamination GROUP BY 1, 2 ORDER BY 1, 2
            """,
        ),
        "generations": _rows(
            root,
            """
            SELECT task, status, count(*) AS n, coalesce(sum(tokens_out), 0) AS tokens_out,
                   coalesce(sum(cost_usd), 0) AS cost_usd
            FROM generations GROUP BY 1, 2 ORDER BY 1, 2
            """,
        ),
    }


def report_data(root: Path, tokenizer: str | None = None, diversity: DiversityConfig | None = None) -> dict[str, Any]:
    """The card's facts, and the series the report plots: scores, filter rounds, cluster sizes, the S-curve
    of the latest dedup, kept and dropped per source and reason, and every run's span."""
    if tokenizer is None:  # any tokenizer that counted the documents, the one that counted most
        tokenizer = next(iter(counted_tokenizers(root)), None)
    data = card_facts(root, tokenizer, diversity)
    data["score_bins"] = _rows(
        root,
        "SELECT floor(score * 4) / 4 AS bin, count(*) AS n FROM scores GROUP BY 1 ORDER BY 1",
    )
    data["filter_rounds"] = _rows(
        root,
        """
        SELECT filter_id, created::VARCHAR AS created, n_labels, threshold, f1, baseline_f1
        FROM filters_all ORDER BY created
        """,
    )
    data["cluster_sizes"] = _rows(
        root,
        """
        SELECT cluster_size AS size, count(DISTINCT cluster_id) AS clusters FROM dups WHERE target = 'docs'
        GROUP BY 1 ORDER BY 1
        """,
    )
    data["kept_dropped"] = _rows(
        root,
        """
        SELECT source, 'kept' AS outcome, count(*) AS n FROM curated GROUP BY 1
        UNION ALL SELECT source, reason, count(DISTINCT id) FROM dropped GROUP BY 1, 2
        UNION ALL SELECT source, 'rejected at ingest: ' || reason, count(*) FROM rejects GROUP BY 1, 2
        ORDER BY 1, 2
        """,
    )
    data["timeline"] = _rows(
        root,
        """
        SELECT run_id, flow, status, started::VARCHAR AS started,
               coalesce(finished, started)::VARCHAR AS finished FROM runs ORDER BY started
        """,
    )
    return data


def _latest_s_curve(root: Path) -> dict[str, Any] | None:
    """P(candidate | J) of the latest finished dedup's LSH settings, every 0.02 of J, and its threshold."""
    from curators.dedup.config import MinHashConfig
    from curators.dedup.lsh import s_curve

    dedup = _rows(
        root,
        """
        SELECT config FROM runs WHERE flow = 'dedup' AND status = 'finished'
        ORDER BY coalesce(finished, started) DESC LIMIT 1
        """,
    )
    if not dedup:
        return None
    minhash = json.loads(dedup[0]["config"]).get("dedup", {}).get("minhash", {})
    bands, rows = MinHashConfig(**minhash).lsh
    points = tuple(round(0.02 * k, 2) for k in range(51))
    return s_curve(bands, rows, points) | {"threshold": minhash.get("threshold", 0.8)}
