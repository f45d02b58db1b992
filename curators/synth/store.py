"""The synth stage's warehouse reads and writes: the seeds of a run, the textbooks of a run and the inputs
of the diversity report. (The quality gates are other stages on target `generations`: near-duplicates
the dedup stage, benchmark n-grams the decontam stage, educational scores the filter stage.)

Each gate writes a column's worth of evidence; nothing is deleted. The view `synthetic` joins them:
one row per generation with its seed axes, `is_dup`/`dup_of`, `contaminated`/`benchmarks`, `score`,
and `usable` (ok, not a duplicate, not contaminated, and kept by the filter when scored).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from curators.decontam.store import removals
from curators.errors import CurateError
from curators.synth.axes import load_axes
from curators.synth.config import DiversityConfig, SeedConfig
from curators.synth.diversity import GenerationItem, diversity_by_axis, diversity_metrics, format_report
from curators.synth.seeds import Seed, sample_seeds, web_seeds
from warehouse.catalog import query
from warehouse.listings import table_shards
from warehouse.shards import read_run_rows, write_run_rows

# --- Seeds and textbooks ------------------------------------------------------------------------


def stored_seeds(root: Path, run_id: str) -> list[Seed] | None:
    """The seeds a run drew, or None when it has not drawn them yet."""
    rows = read_run_rows(root, "seeds", run_id)
    return None if rows is None else [Seed.from_row(r) for r in rows]


def plan_seeds(root: Path, run_id: str, config: SeedConfig) -> list[Seed]:
    """The seeds of this run: drawn once and stored in `seeds`, read back on resume."""
    seeds = stored_seeds(root, run_id)
    if seeds is not None:
        return seeds
    axes = load_axes(config.axes_dir)
    if config.mode == "web":
        try:
            _, rows = query(
                root,
                "SELECT id, text, score FROM curated WHERE score >= ? ORDER BY score DESC, id LIMIT ?",
                [config.web_min_score, config.n * 3],
            )
        except CurateError as exc:
            raise CurateError(
                f"web seeds need scored documents: {exc.message}", hint="run `curate run` (or ingest, train, score)"
            ) from None
        seeds = list(web_seeds([{"id": r[0], "text": r[1], "score": r[2]} for r in rows], config, axes))
        if not seeds:
            raise CurateError(
                f"no curated document scores {config.web_min_score} or more",
                hint="lower synth.seeds.web_min_score, or use seeds.mode: taxonomy",
            )
    else:
        seeds = sample_seeds(config, axes)
    write_run_rows(root, "seeds", run_id, [s.as_row(run_id) for s in seeds])
    return seeds


def textbooks_of_run(root: Path, run_id: str) -> list[dict[str, Any]]:
    """The ok textbooks a textbook run wrote (id, seed_id, text), by id."""
    rows = []
    for path in table_shards(root, "generations", run_id):
        table = pq.read_table(path, columns=["id", "task", "seed_id", "text", "status"])
        rows.extend(r for r in table.to_pylist() if r["task"] == "textbook" and r["status"] == "ok")
    return sorted(rows, key=lambda r: r["id"])


# --- Report ---------------------------------------------------------------------------------------


AXES = ("task", "audience", "style", "subject")


def diversity_facts(root: Path, config: DiversityConfig, task: str | None = None) -> dict[str, Any]:
    """Diversity of the ok generations (optionally of one task): `overall` metrics and `by_axis` rows (one per
    axis value: task, audience, style, subject). Plain data, for the text report, the card and the HTML report."""
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
    by_axis = diversity_by_axis(items, config, embeddings=embeddings, near_dup_ids=near_dup_ids, axes=AXES)
    return {"overall": overall, "by_axis": by_axis}


def report(root: Path, config: DiversityConfig, task: str | None = None) -> str:
    """The diversity report of the ok generations (optionally of one task), as text."""
    facts = diversity_facts(root, config, task)
    overall, by_axis = facts["overall"], facts["by_axis"]
    text = format_report(overall, by_axis)
    gone = removals(root, "generations")
    if gone:
        lines = ["", "decontamination (generations flagged per benchmark):"]
        lines += [f"  {r['benchmark']:<16} {r['flagged']:>6} generations, {r['items_matched']:>6} items" for r in gone]
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
