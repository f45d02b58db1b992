"""Explicit pyarrow schemas, one per warehouse table. A stage adds its table here; nothing is inferred."""

from __future__ import annotations

import pyarrow as pa

DOCS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # sha256(source, locator)
        pa.field("source", pa.string(), nullable=False),
        pa.field("locator", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("text_hash", pa.string(), nullable=False),  # sha256 of the normalised text
        pa.field("n_chars", pa.int64(), nullable=False),
        pa.field("n_bytes", pa.int64(), nullable=False),
        pa.field("lang", pa.string()),
        pa.field("meta", pa.string()),  # JSON object
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

REJECTS = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("locator", pa.string(), nullable=False),
        pa.field("reason", pa.string(), nullable=False),  # a code from curators.sources.RejectReason
        pa.field("detail", pa.string()),  # a sentence for a person
        pa.field("excerpt", pa.string()),  # the start of the offending input, made printable
        pa.field("n_bytes", pa.int64()),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

RUNS = pa.schema(
    [
        pa.field("run_id", pa.string(), nullable=False),
        pa.field("flow", pa.string(), nullable=False),
        pa.field("config", pa.string()),  # JSON, secrets excluded
        pa.field("config_hash", pa.string()),
        pa.field("versions", pa.string()),  # JSON: package versions
        pa.field("started", pa.timestamp("us", tz="UTC")),
        pa.field("finished", pa.timestamp("us", tz="UTC")),
        pa.field("status", pa.string()),  # running | finished | failed
        pa.field("counts", pa.string()),  # JSON
        pa.field("error", pa.string()),
    ]
)

LABELS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # the document
        pa.field("prompt_id", pa.string(), nullable=False),  # task@version:sha8
        pa.field("model", pa.string(), nullable=False),
        pa.field("score", pa.int8()),  # 0-5; null unless status = ok
        pa.field("rationale", pa.string()),
        pa.field("raw", pa.string()),  # the model's last answer, verbatim
        pa.field("status", pa.string(), nullable=False),  # ok | invalid | failed
        pa.field("error", pa.string()),
        pa.field("truncated", pa.bool_()),  # the document was cut to the token budget
        pa.field("chars_sent", pa.int64()),
        pa.field("attempts", pa.int32()),
        pa.field("cached", pa.bool_()),  # answered from the response cache (not paid in this run)
        pa.field("tokens_in", pa.int64()),
        pa.field("tokens_out", pa.int64()),
        pa.field("cost_usd", pa.float64()),
        pa.field("cache_key", pa.string()),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

EMBEDDINGS = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("model", pa.string(), nullable=False),  # embedder name @ max sequence length
        pa.field("vector", pa.list_(pa.float32()), nullable=False),  # L2-normalised
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

FILTERS = pa.schema(
    [
        pa.field("filter_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),  # folder with filter.skops + card.json
        pa.field("kind", pa.string()),
        pa.field("embedder", pa.string()),
        pa.field("prompt_ids", pa.string()),  # JSON list
        pa.field("labellers", pa.string()),  # JSON list of labeller models
        pa.field("n_labels", pa.int64()),
        pa.field("threshold", pa.int8()),
        pa.field("f1", pa.float64()),  # held-out binary F1 at the threshold
        pa.field("baseline_f1", pa.float64()),
        pa.field("metrics", pa.string()),  # JSON
        pa.field("created", pa.timestamp("us", tz="UTC")),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

SCORES = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("filter_id", pa.string(), nullable=False),
        pa.field("score", pa.float32(), nullable=False),  # predicted educational value, 0-5
        pa.field("proba", pa.float32(), nullable=False),  # P(score >= threshold)
        pa.field("keep", pa.bool_(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

LABEL_SAMPLE = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),
        pa.field("source", pa.string()),
        pa.field("reason", pa.string(), nullable=False),  # centroid | random-fill | random | uncertain | all
        pa.field("cluster", pa.int32()),
        pa.field("proba", pa.float32()),  # uncertain: P(educational) under the filter when chosen
        pa.field("strategy", pa.string(), nullable=False),
        pa.field("run_id", pa.string(), nullable=False),
    ]
)

TABLES: dict[str, pa.Schema] = {
    "docs": DOCS,
    "rejects": REJECTS,
    "runs": RUNS,
    "labels": LABELS,
    "label_sample": LABEL_SAMPLE,
    "embeddings": EMBEDDINGS,
    "filters": FILTERS,
    "scores": SCORES,
}


def schema_for(table: str) -> pa.Schema:
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; known: {', '.join(TABLES)}") from None
