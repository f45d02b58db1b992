"""The filter stage's warehouse reads and writes: label candidates and stored embeddings, the label sample
of a run, the training set from the labels and the registered filter, and the embed and score map over
shards (one output shard per input shard, through the shard mapper).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curators.filter.config import EmbedConfig, FilterConfig
from curators.filter.embed import get_embedder
from curators.filter.forest import check_labels, save_filter, train_filter
from curators.filter.score import READ_BATCH, embeddings_table, loaded_filter, scores_table
from warehouse.catalog import query
from warehouse.mapper import Mapped, map_shard
from warehouse.shards import read_run_rows, write_run_rows

# --- Label candidates and embeddings ---------------------------------------------------------------


def candidates(
    root: Path, seed: int, exclude_labelled: bool, limit: int, passing_only: bool = True
) -> list[tuple[str, str, str]]:
    """(id, source, text) of distinct-text documents: a seeded random pool of at most `limit`. `passing_only`:
    none that the quality stage found failing a rule or in a language not kept."""
    labelled = "AND id NOT IN (SELECT id FROM labels)" if exclude_labelled else ""
    passing = "AND id NOT IN (SELECT id FROM quality WHERE NOT (passed AND lang_ok))" if passing_only else ""
    _, rows = query(
        root,
        f"""
        SELECT id, source, text FROM docs
        WHERE true {labelled} {passing}
        QUALIFY row_number() OVER (PARTITION BY text_hash ORDER BY id) = 1
        ORDER BY sha256(id || ?::VARCHAR) LIMIT ?""",
        [str(seed), limit],
    )
    return rows


def vectors_for(root: Path, config: EmbedConfig, ids: list[str], texts: list[str]) -> np.ndarray:
    """Embeddings of these documents: the stored ones (`embeddings`, same model) where present, the rest
    computed (and not stored: `curate score` stores embeddings shard by shard)."""
    embedder = get_embedder(config)
    _, stored = query(
        root, "SELECT id, vector FROM embeddings WHERE model = ? AND id IN (SELECT unnest(?))", [embedder.model_id, ids]
    )
    known = dict(stored)
    missing = [k for k, i in enumerate(ids) if i not in known]
    X = np.zeros((len(ids), embedder.dim), dtype=np.float32)
    if missing:
        X[missing] = embedder.encode([texts[k] for k in missing], batch_size=config.batch_size)
    for k, i in enumerate(ids):
        if i in known:
            X[k] = known[i]
    return X


# --- The label sample of a run ---------------------------------------------------------------------


def stored_sample(root: Path, run_id: str) -> list[str] | None:
    """The document ids a label run drew, or None when it has not drawn them yet."""
    rows = read_run_rows(root, "label_sample", run_id, columns=["id"])
    return None if rows is None else [r["id"] for r in rows]


def write_sample(root: Path, run_id: str, rows: list[dict[str, Any]]) -> None:
    write_run_rows(root, "label_sample", run_id, [{**r, "run_id": run_id} for r in rows])


def docs_to_label(root: Path, ids: list[str]) -> dict[str, tuple[str, str | None]]:
    """id -> (text, programming language of a code document or None), for the ids still in `docs`."""
    _, rows = query(
        root, "SELECT id, text, json_extract_string(meta, '$.language') FROM docs WHERE id IN (SELECT unnest(?))", [ids]
    )
    return {r[0]: (r[1], r[2]) for r in rows}


# --- Training ----------------------------------------------------------------------------------------


@dataclass
class TrainingSet:
    ids: list[str]
    X: np.ndarray
    y: np.ndarray
    prompt_ids: list[str]
    labellers: list[str]
    embedder: str


def _label_filter(config: FilterConfig) -> tuple[str, list[str]]:
    where = "l.status = 'ok'" + (" AND l.prompt_id LIKE ? || '%'" if config.prompt else "")
    return where, [config.prompt] if config.prompt else []


def check_trainable(root: Path, config: FilterConfig) -> None:
    """Raise NotEnoughLabels when the warehouse's labels cannot train a filter yet (a cheap check: no model)."""
    where, params = _label_filter(config)
    _, rows = query(
        root,
        f"SELECT round(avg(l.score))::INT FROM labels l JOIN docs d USING (id) WHERE {where} GROUP BY l.id",
        params,
    )
    check_labels(np.asarray([r[0] for r in rows], dtype=int), config)


def training_set(root: Path, config: FilterConfig, embed: Any) -> TrainingSet:
    """The ok labels (of `config.prompt` when set) with their documents' embeddings: stored ones are reused,
    missing ones computed."""
    where, params = _label_filter(config)
    _, rows = query(
        root,
        f"""
        SELECT l.id, any_value(d.text), round(avg(l.score))::INT, list(DISTINCT l.prompt_id), list(DISTINCT l.model)
        FROM labels l JOIN docs d USING (id) WHERE {where} GROUP BY l.id ORDER BY l.id""",
        params,
    )
    embedder = get_embedder(embed)
    ids = [r[0] for r in rows]
    X = vectors_for(root, embed, ids, [r[1] for r in rows])
    return TrainingSet(
        ids=ids,
        X=X,
        y=np.asarray([r[2] for r in rows], dtype=int),
        prompt_ids=sorted({p for r in rows for p in r[3]}),
        labellers=sorted({m for r in rows for m in r[4]}),
        embedder=embedder.model_id,
    )


def filter_id_for(data: TrainingSet, config: FilterConfig) -> str:
    digest = hashlib.sha256(
        json.dumps(
            {
                "ids": data.ids,
                "y": data.y.tolist(),
                "embedder": data.embedder,
                "config": config.model_dump(),
            },
            sort_keys=True,
        ).encode()
    ).hexdigest()[:10]
    return f"rf-{config.kind[:3]}-{digest}"


def train_and_register(root: Path, run_id: str, config: FilterConfig, embed: Any) -> dict[str, Any]:
    """Train on the warehouse's labels, save the filter under `<root>/filters/<id>/`, add it to `filters`."""
    data = training_set(root, config, embed)
    model, metrics = train_filter(data.X, data.y, config)
    filter_id = filter_id_for(data, config)
    folder = Path(root) / "filters" / filter_id
    card = {
        "filter_id": filter_id,
        "kind": config.kind,
        "embedder": data.embedder,
        "prompt_ids": data.prompt_ids,
        "labellers": data.labellers,
        "threshold": config.threshold,
        "n_labels": len(data.ids),
        "label_counts": {str(k): int(v) for k, v in enumerate(np.bincount(data.y, minlength=6))},
        "metrics": metrics,
        "train_seconds": metrics["train_seconds"],
        "n_estimators": config.n_estimators,
    }
    save_filter(folder, model, card)
    row = {
        "filter_id": filter_id,
        "path": str(folder.resolve()),
        "kind": config.kind,
        "embedder": data.embedder,
        "prompt_ids": json.dumps(data.prompt_ids),
        "labellers": json.dumps(data.labellers),
        "n_labels": len(data.ids),
        "threshold": config.threshold,
        "f1": metrics["filter"]["f1"],
        "baseline_f1": metrics["majority_baseline"]["f1"],
        "metrics": json.dumps(metrics),
        "created": datetime.now(UTC),
        "run_id": run_id,
    }
    write_run_rows(root, "filters", run_id, [row])
    return card


# --- Embed and score, shard by shard ---------------------------------------------------------------


def embed_shard(root: Path, run_id: str, input_shard: str, config: EmbedConfig) -> Mapped:
    """Embed one shard with `id` and `text` columns (docs, generations) into an embeddings shard."""

    def compute(path: Path) -> pa.Table:
        embedder = get_embedder(config)
        ids: list[str] = []
        vectors: list[np.ndarray] = []
        for batch in pq.ParquetFile(path).iter_batches(batch_size=READ_BATCH, columns=["id", "text"]):
            ids.extend(batch.column("id").to_pylist())
            vectors.append(embedder.encode(batch.column("text").to_pylist(), batch_size=config.batch_size))
        return embeddings_table(ids, vectors, embedder, run_id)

    return map_shard(root, run_id, "embeddings", input_shard, config.model_dump_json(), compute)


def score_shard(root: Path, run_id: str, embeddings_shard: str, filter_path: str, filter_id: str) -> Mapped:
    """Apply the filter to one embeddings shard, writing a scores shard."""

    def compute(path: Path) -> pa.Table:
        return scores_table(
            pq.read_table(path, columns=["id", "vector"]), loaded_filter(filter_path, filter_id), filter_id, run_id
        )

    return map_shard(root, run_id, "scores", embeddings_shard, filter_id, compute)
