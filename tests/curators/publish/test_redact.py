"""PII redaction of an export's batches: text columns gain per-row counts, conversations have each message
redacted, other columns and the switched-off config are left exactly as they were."""

from __future__ import annotations

from collections import Counter

import pyarrow as pa

from curators.heuristics.pii import PiiConfig
from curators.publish.redact import COUNT_COLUMNS, redact_batch, redacted_schema

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])


def test_text_rows_are_redacted_and_counted() -> None:
    batch = pa.RecordBatch.from_pylist(
        [
            {"id": "a", "text": "Mail ada@example.com or bob@example.co.uk from 93.184.216.34."},
            {"id": "b", "text": "@property\ndef x(self): return self.w @ self.v  # 127.0.0.1 stays"},
            {"id": "c", "text": None},
        ],
        schema=pa.schema([("id", pa.string()), ("text", pa.large_string())]),
    )
    totals: Counter = Counter()
    out = redact_batch(batch, PiiConfig(), totals)
    assert out.schema == redacted_schema(batch.schema, PiiConfig()) and out.schema.names[-3:] == list(COUNT_COLUMNS)
    rows = out.to_pylist()
    assert "ada@" not in rows[0]["text"] and "bob@" not in rows[0]["text"] and "93.184.216.34" not in rows[0]["text"]
    assert (rows[0]["pii_emails"], rows[0]["pii_ip_addresses"], rows[0]["pii_phone_numbers"]) == (2, 1, 0)
    assert rows[1]["text"] == batch.to_pylist()[1]["text"] and rows[1]["pii_emails"] == 0
    assert rows[2]["text"] is None and rows[2]["pii_emails"] == 0
    assert totals == Counter(emails=2, ip_addresses=1, phone_numbers=0)


def test_conversations_are_redacted_message_by_message() -> None:
    schema = pa.schema([("messages", pa.list_(MESSAGE)), ("rating", pa.float32())])
    messages = [{"role": "user", "content": "Email me at ann@example.org"}, {"role": "assistant", "content": "No."}]
    batch = pa.RecordBatch.from_pylist([{"messages": messages, "rating": 4.5}], schema=schema)
    totals: Counter = Counter()
    out = redact_batch(batch, PiiConfig(), totals)
    assert out.schema == schema  # no `text` column: no count columns
    row = out.to_pylist()[0]
    assert "ann@example.org" not in row["messages"][0]["content"] and row["messages"][1] == messages[1]
    assert row["rating"] == 4.5 and totals["emails"] == 1


def test_switched_off_changes_nothing() -> None:
    batch = pa.RecordBatch.from_pylist([{"text": "ada@example.com"}])
    off = PiiConfig(enabled=False)
    assert redact_batch(batch, off, Counter()) is batch and redacted_schema(batch.schema, off) == batch.schema
