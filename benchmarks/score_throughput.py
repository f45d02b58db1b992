"""Scoring throughput: `curate score` end to end vs raw `SentenceTransformer.encode` + `predict` on the same
documents, in one run, with 1 and 2 workers.

Builds a warehouse from the Python standard library (real code; --docs of them), trains a filter on
labels known by source (tests/realtext.py), then times:

  raw          : SentenceTransformer.encode (same model, same max_seq_length, batch 32) + forest predict, in process
  score flow   : flows.score (embed shards + score shards, Parquet writes, done-markers), Prefect thread
                 pool with 1 and with 2 workers; the Prefect start-up is measured apart and excluded

    .venv/bin/python benchmarks/score_throughput.py [--docs 600]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=600)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="curate-score-bench-"))
    os.environ.setdefault("PREFECT_HOME", str(base / "prefect"))

    import numpy as np
    from prefect import flow
    from prefect.task_runners import ThreadPoolTaskRunner

    from curators.config import EmbedConfig, FilterConfig, IngestConfig, SourceSpec
    from curators.filter.embed import get_embedder
    from curators.filter.forest import load_filter
    from curators.filter.store import train_and_register
    from curators.ingest.plan import plan_units
    from curators.ingest.store import ingest_unit
    from flows.score import score_flow
    from tests.realtext import build_labelled_warehouse
    from warehouse.catalog import query
    from warehouse.runs import open_run

    root = base / "w"
    build_labelled_warehouse(root, base)
    card = train_and_register(root, "bench-train", FilterConfig(n_estimators=300), EmbedConfig())
    flt = load_filter(root / "filters" / card["filter_id"])
    ingest = IngestConfig(sources=[SourceSpec(path="python-stdlib")])  # default shards (a unit of 400 files)
    with open_run(root, "ingest", ingest) as run:
        for unit in plan_units(ingest).units:
            ingest_unit(unit, root, run.run_id, ingest)
    _, rows = query(root, "SELECT text FROM docs WHERE source = 'python-stdlib' ORDER BY id LIMIT ?", [args.docs])
    texts = [r[0] for r in rows]
    # Score exactly these documents: keep only them in the warehouse copy the flow runs on.
    _, total = query(root, "SELECT count(*) FROM docs")
    embed = EmbedConfig()
    embedder = get_embedder(embed)
    embedder.encode(texts[:8])  # warm up

    started = time.perf_counter()
    X = embedder.model.encode(
        [t[: embed.max_seq_length * 8] for t in texts],
        batch_size=embed.batch_size,
        normalize_embeddings=True,
        convert_to_numpy=True,
    )
    flt.predict(np.asarray(X, dtype=np.float32))
    raw = len(texts) / (time.perf_counter() - started)
    print(
        f"documents: {len(texts)} of {total[0][0]} (python-stdlib source files, max_seq_length {embed.max_seq_length})"
    )
    print(f"raw encode + predict: {raw:.1f} docs/s")

    @flow
    def warm() -> None:
        return None

    t = time.perf_counter()
    warm()
    print(f"(Prefect start-up, excluded below: {time.perf_counter() - t:.1f}s)")
    for workers in (1, 2):
        copy = base / f"w{workers}"
        shutil.copytree(root, copy)
        # Only the benchmark's documents: drop the other docs shards from the copy.
        keep = {
            r[0]
            for r in query(copy, "SELECT id FROM docs WHERE source = 'python-stdlib' ORDER BY id LIMIT ?", [args.docs])[
                1
            ]
        }
        _prune(copy, keep)
        started = time.perf_counter()
        summary = score_flow.with_options(task_runner=ThreadPoolTaskRunner(max_workers=workers))(str(copy), embed)
        rate = summary.docs / (time.perf_counter() - started)
        print(f"curate score, {workers} worker(s): {summary.docs} docs, {rate:.1f} docs/s = {rate / raw:.2f}x raw")
    shutil.rmtree(base, ignore_errors=True)


def _prune(root: Path, keep: set[str]) -> None:
    """Rewrite the copy's docs shards to hold only `keep` (so both sides score the same documents)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from warehouse.catalog import refresh_views
    from warehouse.shards import done_shards, remove_shard, write_shard

    for shard, marker in done_shards(root, "docs"):
        table = pq.read_table(shard)
        kept = table.filter(pc.is_in(table.column("id"), value_set=__import__("pyarrow").array(sorted(keep))))
        remove_shard(shard)
        write_shard(shard, kept, **{k: v for k, v in marker.items() if k not in ("rows", "bytes", "written_at")})
    refresh_views(root)


if __name__ == "__main__":
    main()
