"""Which documents to label: a small budget spread over the corpus, then top-ups where the filter is unsure.

- `diverse` (the default): stratified by source (quotas proportional to each source's distinct
  documents), and within a source spread by k-means over sentence embeddings of a seeded random pool
  (stored embeddings reused): the document nearest each centroid, then a seeded random fill (30%).
  (Hashed TF-IDF + SVD was tried as a cheaper representation: on real text it covered the kinds of
  documents worse than random sampling, so it is not used.)
- `random`: a seeded random order (the baseline).
- `uncertain` (top-up rounds): the unlabelled documents whose predicted probability of being
  educational is closest to 0.5 under the newest filter (uncertainty sampling).

Exact duplicates (same `text_hash`) are never both chosen. Every choice carries its reason, stored in
`label_sample` with the run, so a resumed run labels exactly the same documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curators.errors import CurateError
from curators.filter.config import EmbedConfig
from curators.filter.store import candidates, vectors_for

# Documents considered per draw: a seeded random pool of this many per label wanted (at least the
# minimum), embedded (stored embeddings are reused), then clustered.
EMBED_POOL_PER_LABEL = 10
EMBED_POOL_MIN = 1000
FILL_SHARE = 0.3  # share of a source's quota filled at random after the centroids


@dataclass
class Choice:
    id: str
    source: str
    reason: str  # centroid | random-fill | random | uncertain
    cluster: int | None = None
    proba: float | None = None


def _quotas(sizes: dict[str, int], n: int) -> dict[str, int]:
    """Largest-remainder quotas proportional to `sizes`, each capped at its size, summing to min(n, total)."""
    total = sum(sizes.values())
    n = min(n, total)
    exact = {s: n * c / total for s, c in sizes.items()}
    quotas = {s: min(sizes[s], int(v)) for s, v in exact.items()}
    for s in sorted(exact, key=lambda s: exact[s] - int(exact[s]), reverse=True):
        if sum(quotas.values()) >= n:
            break
        if quotas[s] < sizes[s]:
            quotas[s] += 1
    while sum(quotas.values()) < n:  # capped sources leave room for others
        for s in sorted(sizes, key=lambda s: sizes[s] - quotas[s], reverse=True):
            if quotas[s] < sizes[s] and sum(quotas.values()) < n:
                quotas[s] += 1
    return quotas


def _spread(ids: list[str], vectors: np.ndarray, quota: int, seed: int) -> list[tuple[str, str, int | None]]:
    """`quota` ids: nearest to each of k-means' centroids, then a random fill."""
    from sklearn.cluster import KMeans

    if quota >= len(ids):
        return [(i, "all", None) for i in ids]
    k = max(1, round(quota * (1 - FILL_SHARE)))
    km = KMeans(n_clusters=k, n_init=3, random_state=seed).fit(vectors)
    distances = km.transform(vectors)
    chosen: list[tuple[str, str, int | None]] = []
    taken: set[int] = set()
    for cluster in range(k):
        for index in np.argsort(distances[:, cluster]):
            if int(index) not in taken:
                taken.add(int(index))
                chosen.append((ids[index], "centroid", cluster))
                break
    rest = [i for i in range(len(ids)) if i not in taken]
    rng = np.random.default_rng(seed)
    for index in rng.permutation(rest)[: quota - len(chosen)]:
        chosen.append((ids[int(index)], "random-fill", int(km.labels_[index])))
    return chosen


def choose(
    root: Path, n: int, strategy: str, seed: int, embed: EmbedConfig | None = None, passing_only: bool = True
) -> list[Choice]:
    """The initial sample: `n` documents chosen by `strategy` (diverse | random); `passing_only`: of those that
    pass the quality rules and the language check (once they ran)."""
    limit = max(EMBED_POOL_PER_LABEL * n, EMBED_POOL_MIN)
    rows = candidates(root, seed, exclude_labelled=False, limit=limit, passing_only=passing_only)
    if not rows:
        raise CurateError(
            "no documents to label" + (" that pass the quality rules" if passing_only else ""),
            hint="ingest a corpus first: `curate ingest PATH` or `curate run`"
            + ("; or see `curate quality` (label.quality_gate: false samples every document)" if passing_only else ""),
        )
    if strategy == "random":
        return [Choice(i, s, "random") for i, s, _ in rows[:n]]
    by_source: dict[str, list[tuple[str, str]]] = {}
    for i, s, t in rows:
        by_source.setdefault(s, []).append((i, t))
    quotas = _quotas({s: len(v) for s, v in by_source.items()}, n)
    chosen = []
    for source in sorted(by_source):
        items = by_source[source]
        if not quotas[source]:
            continue
        ids = [i for i, _ in items]
        vectors = vectors_for(root, embed or EmbedConfig(), ids, [t for _, t in items])
        source_seed = (seed + int(hashlib.sha256(source.encode()).hexdigest()[:6], 16)) % 2**31
        for doc, reason, cluster in _spread(ids, vectors, quotas[source], source_seed):
            chosen.append(Choice(doc, source, reason, cluster))
    return chosen


def choose_uncertain(
    root: Path, n: int, seed: int, predict: Callable, embed: EmbedConfig, passing_only: bool = True
) -> list[Choice]:
    """`n` unlabelled documents whose P(educational) is closest to 0.5 under `predict` (the filter)."""
    limit = max(EMBED_POOL_PER_LABEL * n, EMBED_POOL_MIN)
    pool = candidates(root, seed, exclude_labelled=True, limit=limit, passing_only=passing_only)
    if not pool:
        raise CurateError("every document is labelled already")
    ids = [r[0] for r in pool]
    X = vectors_for(root, embed, ids, [r[2] for r in pool])
    _, proba = predict(X)
    order = np.argsort(np.abs(proba - 0.5), kind="stable")[:n]
    return [Choice(ids[i], pool[i][1], "uncertain", None, float(proba[i])) for i in order]
