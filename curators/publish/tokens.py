"""Token counts of an export, with a named tokenizer: an embedded model's own (transformers reads it from the
GGUF file, with the `gguf` package) or any local folder holding a tokenizer. Nothing is downloaded."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from curators.errors import ConfigError
from warehouse.catalog import refresh_views
from warehouse.runs import new_run_id
from warehouse.schemas import DOC_TOKENS
from warehouse.shards import run_dir, shard_name, write_shard

ALIASES = {"smollm2": "smollm2-135m-instruct-q4_1"}
BATCH = 256


def load_tokenizer(spec: str) -> Any:
    """The tokenizer named by `spec`: an alias ('smollm2'), an embedded model's name, or a local folder."""
    from transformers import AutoTokenizer

    from curators.llm.local_server import MODELS, resolve_model
    from curators.quiet import quiet_transformers

    quiet_transformers()

    name = ALIASES.get(spec, spec)
    try:
        tokenizer = None
        if name in MODELS:
            gguf = resolve_model(name)
            tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        elif Path(spec).is_dir():
            tokenizer = AutoTokenizer.from_pretrained(spec, local_files_only=True)
    except (OSError, ValueError, ImportError) as exc:
        raise ConfigError(f"cannot load the tokenizer {spec!r}: {exc}") from exc
    if tokenizer is not None:
        tokenizer.model_max_length = 1 << 40  # we count, we do not feed a model: no "sequence too long" warning
        return tokenizer
    raise ConfigError(
        f"unknown tokenizer {spec!r}",
        hint=f"use 'smollm2', an embedded model ({', '.join(MODELS)}), a local folder with a tokenizer, "
        "or `export.tokenizer: null` to count no tokens",
    )


CONVERSATION_COLUMNS = ("messages", "prompt", "chosen", "rejected")  # TRL's shapes: lists of {role, content}


def texts_of(rows: list[dict[str, Any]]) -> list[str] | None:
    """The texts a row's tokens are counted on: its `text`, or the contents of its conversations; None when a
    product has neither."""
    if not rows:
        return []
    if "text" in rows[0]:
        return [r["text"] or "" for r in rows]
    columns = [c for c in CONVERSATION_COLUMNS if c in rows[0]]
    if not columns:
        return None
    return [m.get("content") or "" for r in rows for c in columns for m in r[c] or []]


def count_tokens(tokenizer: Any, texts: Iterable[str]) -> int:
    """Tokens of every text, without special tokens, counted a batch at a time."""
    total, batch = 0, []
    for text in texts:
        batch.append(text)
        if len(batch) == BATCH:
            total += sum(len(ids) for ids in tokenizer(batch, add_special_tokens=False)["input_ids"])
            batch = []
    if batch:
        total += sum(len(ids) for ids in tokenizer(batch, add_special_tokens=False)["input_ids"])
    return total


def count_document_tokens(root: Path, spec: str, tokenizer: Any, shard_rows: int = 200_000) -> int:
    """Count the tokens of every current document `spec` has not counted yet, into the `doc_tokens` table
    (shards of `shard_rows`; a killed count keeps its finished shards). The caller holds the writer lock.
    Returns the documents counted now."""
    from curators.publish.store import uncounted_texts

    run_id = new_run_id("doc-tokens", hashlib.sha256(spec.encode()).hexdigest())
    counted, seq, hashes, tokens = 0, 0, [], []

    def flush() -> None:
        nonlocal seq, hashes, tokens
        if hashes:
            data = pa.table({"text_hash": hashes, "tokenizer": [spec] * len(hashes), "tokens": tokens}, DOC_TOKENS)
            write_shard(run_dir(root, "doc_tokens", run_id) / shard_name(0, seq), data, table="doc_tokens")
            seq, hashes, tokens = seq + 1, [], []

    with uncounted_texts(root, spec) as reader:
        for batch in reader:
            texts = [t or "" for t in batch.column("text").to_pylist()]
            for start in range(0, len(texts), BATCH):
                ids = tokenizer(texts[start : start + BATCH], add_special_tokens=False)["input_ids"]
                tokens.extend(len(i) for i in ids)
            hashes.extend(batch.column("text_hash").to_pylist())
            counted += batch.num_rows
            if len(hashes) >= shard_rows:
                flush()
    flush()
    if counted:
        refresh_views(root)
    return counted
