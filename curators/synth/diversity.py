"""Diversity metrics of a set of generated texts (`curate synth report`).

Synthetic textbooks fail quietly by sameness: the same opening, the same phrasing, the same lesson told
to every audience. This module measures that on a set of generations, overall and per seed-axis value.

What is measured, and on what:

- **All items**: `n`, `near_dup_rate` (share of items the dedup stage marked as near duplicates, given by
  the caller as `near_dup_ids`; a share, so it does not grow with the number of items), and the token and
  cost totals/means (`tokens_out_total`, `tokens_out_mean`, `cost_usd_total`: None when no item reports
  them).
- **The sample**: every other metric. The sample is a seeded random sample of at most
  `DiversityConfig.sample_size` items (`n_sampled`), drawn after sorting the items by id, so it does not
  depend on the order the items arrive in. These metrics grow or shrink with the number of texts (more
  texts: more chance of a shared opening by luck, of a close neighbour, of a repeated n-gram), so a fixed
  sample size is what lets runs of different sizes compare.
  - `top1_opening_share` / `top1_opening` / `top10_opening_share`: the first `opening_words` words of each
    text (lower case, punctuation stripped; a shorter text is its whole text), and the share of sampled
    texts opening with the most common one / with one of the 10 most common.
    With fewer than 100 sampled texts the 1% goal cannot be met (one text is already more than 1%).
  - `distinct_1/2/3`: distinct n-grams / total n-grams (Li et al. 2016), corpus-level, over the first
    `distinct_tokens` word tokens of the sample taken in its shuffled order (n-grams do not cross text
    boundaries). Corpus-level, because a per-text average misses the failure that matters here: every text
    is varied inside but all texts say the same thing. A fixed token budget, because distinct-n falls as
    text grows; `distinct_tokens` in the result says how many tokens were actually used (fewer when the
    sample is shorter than the budget, in which case compare only with results on as many tokens).
  - `compression_ratio`: original size / gzip size (level 9) of the sampled texts joined by newlines, in
    UTF-8 bytes, as in Shaib et al. 2024 ("Standardizing the Measurement of Text Diversity"). Higher means
    more redundant, i.e. LESS diverse.
  - `nn_cos_ge_share` / `mean_nn_cosine`: for each sampled item, the cosine of its nearest other sampled
    item (embeddings are L2-normalised again here, to be safe); the share at or above `nn_cosine` and the
    mean. Computed in row blocks, so memory stays bounded (about `NN_BLOCK_BYTES`) for 10k+ items. None
    without embeddings or with fewer than 2 sampled items.

`goals` holds the targets from the issue: near_dup_rate <= 0.5%, top1_opening_share <= 1%,
top10_opening_share <= 5%; each as {value, goal, met}, `met` None when the value is unknown.
"""

from __future__ import annotations

import gzip
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from curators.synth.config import DiversityConfig

GOALS: dict[str, float] = {
    "near_dup_rate": 0.005,
    "top1_opening_share": 0.01,
    "top10_opening_share": 0.05,
}
DEFAULT_AXES: tuple[str, ...] = ("audience", "style", "subject")
NN_BLOCK_BYTES = 64 * 1024 * 1024  # memory of one block of the similarity matrix (float32)

_WORD = re.compile(r"\w+(?:['’]\w+)*")


@dataclass(frozen=True)
class GenerationItem:
    """One generated text, with its seed-axis values (e.g. audience, style, subject)."""

    id: str
    text: str
    tokens_out: int | None = None
    cost_usd: float | None = None
    axes: dict[str, str] = field(default_factory=dict)


def words(text: str) -> list[str]:
    """Lower-case word tokens, punctuation stripped (contractions such as "don't" stay one word)."""
    return _WORD.findall(text.lower())


def opening(text: str, n_words: int = 4) -> str:
    """The first `n_words` words of `text`, normalised; the whole (normalised) text if it is shorter."""
    return " ".join(words(text)[:n_words])


def sample_indices(items: Sequence[GenerationItem], config: DiversityConfig) -> list[int]:
    """Indices into `items` of the seeded sample (at most `sample_size`), in sample (shuffled) order.

    Items are sorted by id before shuffling, so the sample does not depend on input order.
    """
    by_id = sorted(range(len(items)), key=lambda i: items[i].id)
    order = np.random.default_rng(config.seed).permutation(len(items))
    return [by_id[j] for j in order[: config.sample_size]]


def _opening_shares(texts: Sequence[str], n_words: int) -> tuple[str | None, float | None, float | None]:
    if not texts:
        return None, None, None
    counts = Counter(opening(t, n_words) for t in texts).most_common(10)
    top1, top1_count = counts[0]
    return top1, top1_count / len(texts), sum(c for _, c in counts) / len(texts)


def _distinct_n(texts: Sequence[str], budget: int) -> tuple[int, dict[int, float | None]]:
    """(tokens used, {n: distinct-n}) over the first `budget` tokens of `texts`, in order."""
    grams: dict[int, set[tuple[str, ...]]] = {1: set(), 2: set(), 3: set()}
    totals = {1: 0, 2: 0, 3: 0}
    used = 0
    for text in texts:
        if used >= budget:
            break
        tokens = words(text)[: budget - used]
        used += len(tokens)
        for n in (1, 2, 3):
            for i in range(len(tokens) - n + 1):
                grams[n].add(tuple(tokens[i : i + n]))
            totals[n] += max(0, len(tokens) - n + 1)
    return used, {n: (len(grams[n]) / totals[n] if totals[n] else None) for n in (1, 2, 3)}


def _compression_ratio(texts: Sequence[str]) -> float | None:
    raw = "\n".join(texts).encode("utf-8")
    if not raw:
        return None
    return len(raw) / len(gzip.compress(raw, compresslevel=9, mtime=0))


def nearest_neighbour_cosines(vectors: np.ndarray) -> np.ndarray:
    """For each row, the highest cosine with any OTHER row; rows are L2-normalised here (zero rows stay zero).

    The similarity matrix is computed in row blocks of about `NN_BLOCK_BYTES`, never whole.
    """
    v = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(v, axis=1, keepdims=True)
    v = v / np.where(norms > 0, norms, 1.0)
    n = len(v)
    best = np.full(n, -np.inf, dtype=np.float32)
    block = max(1, NN_BLOCK_BYTES // (4 * max(n, 1)))
    for start in range(0, n, block):
        stop = min(start + block, n)
        sims = v[start:stop] @ v.T
        rows = np.arange(stop - start)
        sims[rows, rows + start] = -np.inf  # not its own neighbour
        best[start:stop] = sims.max(axis=1)
    return np.clip(best, -1.0, 1.0)


def _check_embeddings(items: Sequence[GenerationItem], embeddings: np.ndarray | None) -> np.ndarray | None:
    if embeddings is None:
        return None
    emb = np.asarray(embeddings)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be a 2-D array (one row per item), got shape {emb.shape}")
    if emb.shape[0] != len(items):
        raise ValueError(
            f"embeddings have {emb.shape[0]} rows but there are {len(items)} items; "
            "row i must be the embedding of items[i]"
        )
    return emb


def _goals(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    goals = {}
    for name, goal in GOALS.items():
        value = metrics[name]
        goals[name] = {"value": value, "goal": goal, "met": None if value is None else bool(value <= goal)}
    return goals


def diversity_metrics(
    items: Sequence[GenerationItem],
    config: DiversityConfig,
    embeddings: np.ndarray | None = None,
    near_dup_ids: set[str] | None = None,
) -> dict[str, Any]:
    """Diversity metrics of `items` (see the module docstring for definitions and which use the sample).

    `embeddings`: row i is the embedding of items[i]. `near_dup_ids`: ids the dedup stage found to be near
    duplicates (computed by the caller); without it `near_dup_rate` is None.
    """
    items = list(items)
    emb = _check_embeddings(items, embeddings)
    n = len(items)
    picked = sample_indices(items, config)
    texts = [items[i].text for i in picked]

    top1, top1_share, top10_share = _opening_shares(texts, config.opening_words)
    used, distinct = _distinct_n(texts, config.distinct_tokens)

    nn_share = nn_mean = None
    if emb is not None and len(picked) >= 2:
        best = nearest_neighbour_cosines(emb[picked])
        nn_share = float(np.mean(best >= np.float32(config.nn_cosine)))
        nn_mean = float(np.mean(best))

    near_dup_rate = None
    if near_dup_ids is not None and n:
        near_dup_rate = sum(item.id in near_dup_ids for item in items) / n

    tokens = [item.tokens_out for item in items if item.tokens_out is not None]
    costs = [item.cost_usd for item in items if item.cost_usd is not None]

    metrics: dict[str, Any] = {
        "n": n,
        "n_sampled": len(picked),
        "near_dup_rate": near_dup_rate,
        "top1_opening": top1,
        "top1_opening_share": top1_share,
        "top10_opening_share": top10_share,
        "distinct_tokens": used,
        "distinct_1": distinct[1],
        "distinct_2": distinct[2],
        "distinct_3": distinct[3],
        "compression_ratio": _compression_ratio(texts),
        "nn_cosine": config.nn_cosine,
        "nn_cos_ge_share": nn_share,
        "mean_nn_cosine": nn_mean,
        "tokens_out_total": sum(tokens) if tokens else None,
        "tokens_out_mean": sum(tokens) / len(tokens) if tokens else None,
        "cost_usd_total": sum(costs) if costs else None,
    }
    metrics["goals"] = _goals(metrics)
    return metrics


def diversity_by_axis(
    items: Sequence[GenerationItem],
    config: DiversityConfig,
    embeddings: np.ndarray | None = None,
    near_dup_ids: set[str] | None = None,
    axes: Iterable[str] = DEFAULT_AXES,
) -> list[dict[str, Any]]:
    """One row per (axis, value): `axis`, `value`, the `diversity_metrics` of that group, and `small`.

    Each group is sampled and measured on its own (nearest neighbours are looked for within the group).
    Items without a value for an axis are left out of that axis. `small` is True for groups of fewer than
    `min_group_size` items: reported, but their numbers are noise. Rows are ordered by axis (as given),
    then value.
    """
    items = list(items)
    emb = _check_embeddings(items, embeddings)
    rows: list[dict[str, Any]] = []
    for axis in axes:
        groups: dict[str, list[int]] = {}
        for i, item in enumerate(items):
            if axis in item.axes:
                groups.setdefault(item.axes[axis], []).append(i)
        for value in sorted(groups):
            idx = groups[value]
            metrics = diversity_metrics(
                [items[i] for i in idx], config, None if emb is None else emb[idx], near_dup_ids
            )
            rows.append({"axis": axis, "value": value, **metrics, "small": len(idx) < config.min_group_size})
    return rows


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.2f}%"


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:.4f}"


def _int(value: int | float | None) -> str:
    return "-" if value is None else f"{round(value):,}"


def _met(met: bool | None) -> str:
    return "n/a" if met is None else ("met" if met else "NOT MET")


def format_report(overall: dict[str, Any], by_axis: list[dict[str, Any]]) -> str:
    """A plain-text report for a terminal: the overall metrics with their goals, then one row per axis value."""
    threshold = overall.get("nn_cosine", 0.9)
    lines = ["Diversity report", ""]
    overall_rows = [
        ("n", _int(overall["n"])),
        ("n_sampled", _int(overall["n_sampled"])),
        ("near_dup_rate", _pct(overall["near_dup_rate"])),
        ("top1_opening_share", _pct(overall["top1_opening_share"])),
        ("top1_opening", "-" if overall["top1_opening"] is None else repr(overall["top1_opening"])),
        ("top10_opening_share", _pct(overall["top10_opening_share"])),
        ("distinct_tokens", _int(overall["distinct_tokens"])),
        ("distinct_1", _num(overall["distinct_1"])),
        ("distinct_2", _num(overall["distinct_2"])),
        ("distinct_3", _num(overall["distinct_3"])),
        ("compression_ratio", _num(overall["compression_ratio"], 2) + "  (original/gzip; higher = less diverse)"),
        ("nn_cos_ge_share", _pct(overall["nn_cos_ge_share"]) + f"  (nearest neighbour cosine >= {threshold})"),
        ("mean_nn_cosine", _num(overall["mean_nn_cosine"])),
        ("tokens_out_total", _int(overall["tokens_out_total"])),
        ("tokens_out_mean", _num(overall["tokens_out_mean"], 1)),
        ("cost_usd_total", _usd(overall["cost_usd_total"])),
    ]
    lines += [f"  {name:<20} {value}" for name, value in overall_rows]
    lines += ["", "Goals"]
    for name, goal in overall["goals"].items():
        lines.append(f"  {name:<20} {_pct(goal['value']):>8}  goal <= {_pct(goal['goal']):>6}  {_met(goal['met'])}")

    if by_axis:
        columns = [
            ("axis", 10, lambda r: str(r["axis"])),
            ("value", 18, lambda r: str(r["value"])),
            ("n", 6, lambda r: _int(r["n"])),
            ("sampled", 7, lambda r: _int(r["n_sampled"])),
            ("near_dup", 8, lambda r: _pct(r["near_dup_rate"])),
            ("top1", 7, lambda r: _pct(r["top1_opening_share"])),
            ("top10", 7, lambda r: _pct(r["top10_opening_share"])),
            ("d1", 5, lambda r: _num(r["distinct_1"], 2)),
            ("d2", 5, lambda r: _num(r["distinct_2"], 2)),
            ("d3", 5, lambda r: _num(r["distinct_3"], 2)),
            ("gzip", 5, lambda r: _num(r["compression_ratio"], 2)),
            ("nn>=", 7, lambda r: _pct(r["nn_cos_ge_share"])),
            ("nn_mean", 7, lambda r: _num(r["mean_nn_cosine"], 3)),
            ("tok_mean", 8, lambda r: _num(r["tokens_out_mean"], 0)),
            ("cost", 9, lambda r: _usd(r["cost_usd_total"])),
            ("flag", 5, lambda r: "small" if r["small"] else ""),
        ]

        def cell(text: str, width: int, first: bool) -> str:
            text = text if len(text) <= width else text[: width - 1] + "…"
            return f"{text:<{width}}" if first else f"{text:>{width}}"

        header = " ".join(cell(name, width, i < 2) for i, (name, width, _) in enumerate(columns))
        lines += ["", "By axis value", "  " + header, "  " + "-" * len(header)]
        for row in by_axis:
            lines.append("  " + " ".join(cell(get(row), width, i < 2) for i, (_, width, get) in enumerate(columns)))
        lines += [
            "",
            "  near_dup = near_dup_rate, top1/top10 = top1/top10_opening_share, d1-d3 = distinct_1-3,",
            f"  gzip = compression_ratio, nn>= = nn_cos_ge_share (cosine >= {threshold}), nn_mean = mean_nn_cosine,",
            "  tok_mean = tokens_out_mean, cost = cost_usd_total; small = fewer items than min_group_size.",
        ]
    return "\n".join(lines) + "\n"
