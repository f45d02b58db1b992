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

TABLES: dict[str, pa.Schema] = {
    "docs": DOCS,
    "rejects": REJECTS,
    "runs": RUNS,
}


def schema_for(table: str) -> pa.Schema:
    try:
        return TABLES[table]
    except KeyError:
        raise KeyError(f"unknown table {table!r}; known: {', '.join(TABLES)}") from None
