"""Scoring, in memory: the embeddings table of a shard's texts, the scores table of its vectors, and the
filter loaded once per process (in the background while shards are embedded)."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa

from curators.filter.embed import Embedder
from curators.filter.forest import Filter, load_filter
from warehouse.schemas import EMBEDDINGS, SCORES

READ_BATCH = 1024


def embeddings_table(ids: list[str], vectors: list[np.ndarray], embedder: Embedder, run_id: str) -> pa.Table:
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), dtype=np.float32)
    return pa.table(
        {
            "id": pa.array(ids, pa.string()),
            "model": pa.array([embedder.model_id] * len(ids), pa.string()),
            "vector": pa.FixedSizeListArray.from_arrays(pa.array(matrix.ravel(), pa.float32()), embedder.dim).cast(
                pa.list_(pa.float32())
            ),
            "run_id": pa.array([run_id] * len(ids), pa.string()),
        },
        schema=EMBEDDINGS,
    )


def scores_table(vectors: pa.Table, flt: Filter, filter_id: str, run_id: str) -> pa.Table:
    """`vectors` (id, vector) scored by the filter: score, P(score >= threshold), keep."""
    n = vectors.num_rows
    X = (
        np.asarray(vectors.column("vector").combine_chunks().flatten(), dtype=np.float32).reshape(n, -1)
        if n
        else np.zeros((0, 1), dtype=np.float32)
    )
    score, proba = flt.predict(X)
    return pa.table(
        {
            "id": vectors.column("id"),
            "filter_id": pa.array([filter_id] * n, pa.string()),
            "score": pa.array(score.astype(np.float32), pa.float32()),
            "proba": pa.array(proba.astype(np.float32), pa.float32()),
            "keep": pa.array(score >= flt.threshold - 0.5, pa.bool_()),
            "run_id": pa.array([run_id] * n, pa.string()),
        },
        schema=SCORES,
    )


_filter_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_once(filter_path: str, filter_id: str) -> Filter:
    return load_filter(Path(filter_path))


def loaded_filter(filter_path: str, filter_id: str) -> Filter:
    """A filter loaded once per process (and per filter), not once per shard."""
    with _filter_lock:  # a prefetch in progress is waited for, not repeated
        return _load_once(filter_path, filter_id)


def prefetch_filter(filter_path: str, filter_id: str) -> None:
    """Load the filter in the background (a forest of 300 trees takes seconds) while shards are embedded."""
    threading.Thread(target=loaded_filter, args=(filter_path, filter_id), daemon=True).start()
