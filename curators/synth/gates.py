"""The quality gates of synthetic data over the warehouse: decontamination per generations shard, and
the inputs of the diversity report. (Near-duplicates use the dedup stage with target `generations`;
educational scores use the score stage on generations shards.)

Each gate writes a column's worth of evidence; nothing is deleted. The view `synthetic` joins them:
one row per generation with its seed axes, `is_dup`/`dup_of`, `contaminated`/`benchmarks`, `score`,
and `usable` (ok, not a duplicate, not contaminated, and kept by the filter when scored).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curators.config import DecontamConfig, DiversityConfig
from curators.score import unit_of
from curators.synth.decontam import ContaminationIndex, build_index, contamination_rows, removals_table
from curators.synth.diversity import GenerationItem, diversity_by_axis, diversity_metrics, format_report
from warehouse.catalog import query
from warehouse.schemas import CONTAMINATION
from warehouse.shards import CheckpointWriter, done_shards, run_dir, shard_name


@functools.lru_cache(maxsize=2)
def _index(config_json: str) -> ContaminationIndex:
    return build_index(DecontamConfig.model_validate_json(config_json))


def generations_shards(root: Path) -> list[str]:
    return [str(p) for p, _ in done_shards(root, "generations")]


def decontam_shard(root: Path, run_id: str, shard: str, config: DecontamConfig) -> tuple[int, int]:
    """Check every ok generation of one shard against the benchmark index; writes `contamination` rows.
    Returns (generations checked, generations flagged)."""
    path = Path(shard)
    config_json = config.model_dump_json()
    fingerprint = hashlib.sha256(f"{path}\n{path.stat().st_size}\n{config_json}".encode()).hexdigest()[:16]
    writer = CheckpointWriter(
        root, run_id, unit_of(path), {"contamination": CONTAMINATION}, fingerprint, 1 << 62, 1 << 62
    )
    point = writer.resume()
    table = pq.read_table(path, columns=["id", "text", "status"])
    ok = [
        (i, t)
        for i, t, s in zip(*(table.column(c).to_pylist() for c in ("id", "text", "status")), strict=True)
        if s == "ok"
    ]
    if point.finished:
        done = run_dir(root, "contamination", run_id) / shard_name(unit_of(path), 0)
        flagged_ids = (
            pq.read_table(done, columns=["id"]).column("id").to_pylist() if point.rows["contamination"] else []
        )
        return len(ok), len(set(flagged_ids))
    index = _index(config_json)
    rows: list[dict[str, Any]] = []
    flagged = set()
    for gen_id, text in ok:
        found = contamination_rows(gen_id, index.find(text), run_id)
        if found:
            flagged.add(gen_id)
        rows.extend(found)
    writer.flush_tables({"contamination": pa.Table.from_pylist(rows, schema=CONTAMINATION)}, cursor=len(ok), final=True)
    return len(ok), len(flagged)


def removals(root: Path) -> list[dict[str, Any]]:
    """Cosmopedia-style table: per benchmark, generations flagged and distinct items matched."""
    columns, rows = query(root, "SELECT * FROM contamination")
    return removals_table([dict(zip(columns, r, strict=True)) for r in rows])


def report(root: Path, config: DiversityConfig, task: str | None = None) -> str:
    """The diversity report of the ok generations (optionally of one task), as text."""
    where = "WHERE g.status = 'ok'" + (" AND g.task = ?" if task else "")
    params = [task] if task else []
    columns, rows = query(
        root,
        f"""
        SELECT g.id, g.text, g.tokens_out, g.cost_usd, g.task, s.audience, s.style, s.subject, s.kind
        FROM generations g LEFT JOIN seeds s USING (seed_id) {where} ORDER BY g.id
        """,
        params,
    )
    items = [
        GenerationItem(
            id=r[0],
            text=r[1],
            tokens_out=r[2],
            cost_usd=r[3],
            axes={k: v for k, v in zip(("task", "audience", "style", "subject", "kind"), r[4:], strict=True) if v},
        )
        for r in rows
    ]
    _, dup_rows = query(root, "SELECT id FROM dups WHERE target = 'generations'")
    near_dup_ids = {r[0] for r in dup_rows}
    embeddings = _embeddings_for(root, [it.id for it in items])
    overall = diversity_metrics(items, config, embeddings=embeddings, near_dup_ids=near_dup_ids)
    by_axis = diversity_by_axis(
        items, config, embeddings=embeddings, near_dup_ids=near_dup_ids, axes=("task", "audience", "style", "subject")
    )
    text = format_report(overall, by_axis)
    gone = removals(root)
    if gone:
        lines = ["", "decontamination (generations flagged per benchmark):"]
        lines += [
            f"  {r['benchmark']:<16} {r['generations_flagged']:>6} generations, {r['items_matched']:>6} items"
            for r in gone
        ]
        text += "\n".join(lines) + "\n"
    _, status_rows = query(
        root, "SELECT task, status, count(*), sum(cost_usd) FROM generations GROUP BY 1, 2 ORDER BY 1, 2"
    )
    text += "\ngenerations by status:\n" + "\n".join(
        f"  {t:<10} {s:<10} {n:>6}  ${c or 0:.4f}" for t, s, n, c in status_rows
    )
    return text + "\n"


def _embeddings_for(root: Path, ids: list[str]) -> np.ndarray | None:
    """The stored embeddings of `ids` in order, or None unless every id has one."""
    if not ids:
        return None
    _, rows = query(
        root,
        "SELECT id, vector FROM embeddings WHERE id IN (SELECT unnest(?)) "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY run_id DESC) = 1",
        [ids],
    )
    found = {r[0]: r[1] for r in rows}
    if len(found) < len(ids):
        return None
    return np.asarray([found[i] for i in ids], dtype=np.float32)


def summary_json(root: Path) -> dict[str, Any]:
    """Counts for the CLI: generations per status, duplicates, contaminated, scored, usable."""
    columns, rows = query(
        root,
        """
        SELECT count(*) AS generations,
               count(*) FILTER (WHERE status = 'ok') AS ok,
               count(*) FILTER (WHERE is_dup) AS duplicates,
               count(*) FILTER (WHERE contaminated) AS contaminated,
               count(score) AS scored,
               count(*) FILTER (WHERE usable) AS usable
        FROM synthetic
        """,
    )
    return json.loads(json.dumps(dict(zip(columns, rows[0], strict=True)), default=str))
