"""Score the corpus shard by shard: embed each `docs` shard once (`embeddings`), then apply the filter
(`scores`). Each output shard is named by its input shard and carries a done-marker, so a killed run,
rerun, does only the missing shards; the embedder is loaded once per process.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curators.config import EmbedConfig
from curators.embed import get_embedder
from curators.quality import Filter, load_filter
from warehouse.catalog import query
from warehouse.schemas import EMBEDDINGS, SCORES
from warehouse.shards import CheckpointWriter, done_shards, run_dir

READ_BATCH = 1024


def unit_of(shard: Path) -> int:
    """A stable unit number for an input shard (its output keeps its name whatever else is added)."""
    rel = "/".join(Path(shard).parts[-3:])  # table/run=.../part-....parquet
    return int(hashlib.sha256(rel.encode()).hexdigest()[:8], 16)


def current_docs_shards(root: Path) -> list[str]:
    """The docs shards of the runs that the `docs` view shows."""
    _, rows = query(root, "SELECT DISTINCT run_id FROM ingest_versions")
    current = {r[0] for r in rows}
    return [str(p) for p, m in done_shards(root, "docs") if p.parent.name.removeprefix("run=") in current]


def _fingerprint(*parts: object) -> str:
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()[:16]


def embed_shard(root: Path, run_id: str, docs_shard: str, config: EmbedConfig) -> int:
    """Embed one docs shard into an embeddings shard (skipped when done). Returns its row count."""
    shard = Path(docs_shard)
    size = shard.stat().st_size
    writer = CheckpointWriter(
        root,
        run_id,
        unit_of(shard),
        {"embeddings": EMBEDDINGS},
        _fingerprint(shard, size, config.model_dump_json()),
        max_rows=1 << 62,
        max_bytes=1 << 62,
    )
    point = writer.resume()
    if point.finished:
        return point.rows["embeddings"]
    embedder = get_embedder(config)
    ids: list[str] = []
    vectors: list[np.ndarray] = []
    for batch in pq.ParquetFile(shard).iter_batches(batch_size=READ_BATCH, columns=["id", "text"]):
        ids.extend(batch.column("id").to_pylist())
        vectors.append(embedder.encode(batch.column("text").to_pylist(), batch_size=config.batch_size))
    matrix = np.concatenate(vectors) if vectors else np.zeros((0, embedder.dim), dtype=np.float32)
    table = pa.table(
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
    writer.flush_tables({"embeddings": table}, cursor=len(ids), final=True)
    return len(ids)


def embeddings_shards(root: Path, run_id: str) -> list[str]:
    folder = run_dir(root, "embeddings", run_id)
    return [str(p) for p, _ in done_shards(root, "embeddings") if p.parent == folder]


_filter_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _load_once(filter_path: str, filter_id: str) -> Filter:
    return load_filter(Path(filter_path))


def _loaded_filter(filter_path: str, filter_id: str) -> Filter:
    """A filter loaded once per process (and per filter), not once per shard."""
    with _filter_lock:  # a prefetch in progress is waited for, not repeated
        return _load_once(filter_path, filter_id)


def prefetch_filter(filter_path: str, filter_id: str) -> None:
    """Load the filter in the background (a forest of 300 trees takes seconds) while shards are embedded."""
    threading.Thread(target=_loaded_filter, args=(filter_path, filter_id), daemon=True).start()


def score_shard(root: Path, run_id: str, embeddings_shard: str, filter_path: str, filter_id: str) -> int:
    """Apply the filter to one embeddings shard, writing a scores shard (skipped when done)."""
    shard = Path(embeddings_shard)
    writer = CheckpointWriter(
        root,
        run_id,
        unit_of(shard),
        {"scores": SCORES},
        _fingerprint(shard, shard.stat().st_size, filter_id),
        max_rows=1 << 62,
        max_bytes=1 << 62,
    )
    point = writer.resume()
    if point.finished:
        return point.rows["scores"]
    flt = _loaded_filter(filter_path, filter_id)
    table = pq.read_table(shard, columns=["id", "vector"])
    n = table.num_rows
    X = (
        np.asarray(table.column("vector").combine_chunks().flatten(), dtype=np.float32).reshape(n, -1)
        if n
        else np.zeros((0, 1), dtype=np.float32)
    )
    score, proba = flt.predict(X)
    out = pa.table(
        {
            "id": table.column("id"),
            "filter_id": pa.array([filter_id] * n, pa.string()),
            "score": pa.array(score.astype(np.float32), pa.float32()),
            "proba": pa.array(proba.astype(np.float32), pa.float32()),
            "keep": pa.array(score >= flt.threshold - 0.5, pa.bool_()),
            "run_id": pa.array([run_id] * n, pa.string()),
        },
        schema=SCORES,
    )
    writer.flush_tables({"scores": out}, cursor=n, final=True)
    return n
