"""PII redaction of an export's rows (`export.pii`): the text that leaves the warehouse has its e-mail addresses,
IP addresses (and phone numbers, when asked) replaced; the stored original is untouched. A config with a `text`
column gains one count column per kind, so each row says what was redacted in it; conversational configs
(`messages`, `prompt`, `chosen`, `rejected`) have each message's content redacted."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pyarrow as pa

from curators.heuristics.pii import PiiConfig, redact

COUNT_COLUMNS = ("pii_emails", "pii_ip_addresses", "pii_phone_numbers")
CONVERSATION_COLUMNS = ("messages", "prompt", "chosen", "rejected")


def redacted_schema(schema: pa.Schema, config: PiiConfig) -> pa.Schema:
    """The schema of the rows as exported: with the count columns when `text` is redacted."""
    if not config.enabled or "text" not in schema.names:
        return schema
    for name in COUNT_COLUMNS:
        schema = schema.append(pa.field(name, pa.int32()))
    return schema


def _conversation(value: Any, config: PiiConfig, totals: Counter) -> Any:
    if not value:
        return value
    out = []
    for message in value:
        text, counts = redact(message["content"] or "", config)
        totals.update(emails=counts.emails, ip_addresses=counts.ip_addresses, phone_numbers=counts.phone_numbers)
        out.append({**message, "content": text if message["content"] is not None else None})
    return out


def redact_batch(batch: pa.RecordBatch, config: PiiConfig, totals: Counter) -> pa.RecordBatch:
    """`batch` with its text redacted (and the count columns added); `totals` gains what was redacted."""
    if not config.enabled:
        return batch
    columns = {name: batch.column(name) for name in batch.schema.names}
    schema = redacted_schema(batch.schema, config)
    if "text" in columns:
        texts, emails, ips, phones = [], [], [], []
        for text in columns["text"].to_pylist():
            if text is None:
                texts.append(None)
                counts = (0, 0, 0)
            else:
                new, found = redact(text, config)
                texts.append(new)
                counts = (found.emails, found.ip_addresses, found.phone_numbers)
            emails.append(counts[0])
            ips.append(counts[1])
            phones.append(counts[2])
        totals.update(emails=sum(emails), ip_addresses=sum(ips), phone_numbers=sum(phones))
        columns["text"] = pa.array(texts, batch.schema.field("text").type)
        for name, values in zip(COUNT_COLUMNS, (emails, ips, phones), strict=True):
            columns[name] = pa.array(values, pa.int32())
    for name in CONVERSATION_COLUMNS:
        if name in columns:
            values = [_conversation(v, config, totals) for v in columns[name].to_pylist()]
            columns[name] = pa.array(values, batch.schema.field(name).type)
    return pa.RecordBatch.from_arrays([columns[f.name] for f in schema], schema=schema)
