"""LSH arithmetic (the probability that two documents become candidates, bands x rows for a threshold) and the
SQL that groups band keys into candidate pairs."""

from __future__ import annotations

import numpy as np


def p_candidate(jaccard: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that two documents with this Jaccard similarity share at least one band."""
    return 1.0 - (1.0 - np.power(jaccard, rows)) ** bands


def lsh_params(threshold: float, num_perm: int, min_recall: float = 0.99) -> tuple[int, int]:
    """Bands x rows (<= num_perm) for a threshold. Candidates are verified afterwards, so a false
    positive costs one comparison while a false negative is a duplicate kept: among the choices whose
    P(candidate) at threshold + 0.05 is at least `min_recall`, take the one with the fewest candidates
    below the threshold (smallest mean P over J in [0, threshold - 0.1]); if none reaches the recall,
    the one with the highest recall there."""
    grid_low = np.linspace(0.0, max(threshold - 0.1, 0.0), 50)
    target = min(threshold + 0.05, 0.999)
    best: tuple[float, int, int] | None = None
    fallback: tuple[float, int, int] | None = None
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if bands < 1:
            break
        recall = float(p_candidate(target, bands, rows))
        waste = float(np.mean(p_candidate(grid_low, bands, rows)))
        if recall >= min_recall and (best is None or waste < best[0]):
            best = (waste, bands, rows)
        if fallback is None or recall > fallback[0]:
            fallback = (recall, bands, rows)
    chosen = best or fallback
    assert chosen is not None
    return chosen[1], chosen[2]


def s_curve(bands: int, rows: int, points: tuple[float, ...] = (0.5, 0.6, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)) -> dict:
    """P(candidate | J) at the given Jaccard values, and the curve's midpoint (1/b)^(1/r)."""
    return {
        "bands": bands,
        "rows": rows,
        "midpoint": round((1.0 / bands) ** (1.0 / rows), 3),
        "p_candidate": {f"{j:.2f}": round(float(p_candidate(j, bands, rows)), 4) for j in points},
    }


def band_pairs_sql(reps: str, first_band: int, last_band: int, max_bucket: int) -> str:
    """SQL of the candidate pairs (a, b: `reps` idx, a < b, distinct) of documents that share a key in one of
    the bands `first_band`..`last_band` (1-based, inclusive). Each band is grouped on its own, so a range of
    bands is a unit of work of its own (a task on a cluster) and the union over ranges is the whole set."""
    return f"""
        WITH keys AS (
            SELECT idx, unnest(bands[{first_band}:{last_band}]) AS key,
                   generate_subscripts(bands[{first_band}:{last_band}], 1) AS band
            FROM {reps}
        ), buckets AS (
            SELECT row_number() OVER () AS bucket, members, len(members) AS size FROM (
                SELECT list(idx ORDER BY idx) AS members FROM keys GROUP BY band, key HAVING count(*) > 1)
        ), small AS (
            SELECT bucket, unnest(members) AS m FROM buckets WHERE size <= {max_bucket}
        ), big AS (
            SELECT members[1] AS first, unnest(members[2:size]) AS m,
                   unnest(members[1:size - 1]) AS prev FROM buckets WHERE size > {max_bucket}
        )
        SELECT DISTINCT a, b FROM (
            SELECT x.m AS a, y.m AS b FROM small x JOIN small y ON x.bucket = y.bucket AND x.m < y.m
            UNION ALL SELECT first AS a, m AS b FROM big
            UNION ALL SELECT prev AS a, m AS b FROM big WHERE prev <> first)
    """
