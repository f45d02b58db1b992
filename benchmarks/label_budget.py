"""Held-out F1 of the filter vs number of labels: random vs diverse sampling vs uncertainty top-ups.

A real corpus whose labels are known by where each document comes from (tests/realtext.py:
standard-library docstrings 4, generated codec tables 1, licence texts 0, plus standard-library test
files 2 and well-documented modules' source 3), embedded once with the packaged MiniLM. A fixed
held-out set (40%, stratified) measures binary F1 at threshold 3; each strategy draws labels from the
remaining pool, with the same code the product uses (k-means spread over embeddings; uncertainty =
P(educational) nearest 0.5 under the current forest). Averaged over --repeats seeds.

    .venv/bin/python benchmarks/label_budget.py [--budgets 8 16 24 32 48] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np  # noqa: E402

from curators.config import EmbedConfig, FilterConfig  # noqa: E402
from curators.filter.embed import get_embedder  # noqa: E402
from curators.filter.forest import _make_model, metrics_for, predict_scores  # noqa: E402
from curators.filter.sampling import FILL_SHARE, _spread  # noqa: E402
from curators.ingest.plan import stdlib_dir  # noqa: E402
from tests.realtext import real_documents  # noqa: E402


def corpus() -> list[tuple[str, str, int]]:
    docs = real_documents()
    tests = sorted((stdlib_dir() / "test").glob("test_*.py"))[:60]
    docs += [(f"test:{p.stem}", p.read_text(encoding="utf-8", errors="replace")[:3000], 2) for p in tests]
    documented = [
        "textwrap",
        "heapq",
        "bisect",
        "fractions",
        "statistics",
        "shlex",
        "graphlib",
        "colorsys",
        "sched",
        "queue",
        "numbers",
        "fnmatch",
        "glob",
        "copy",
        "reprlib",
        "pprint",
        "secrets",
    ]
    docs += [(f"src:{m}", (stdlib_dir() / f"{m}.py").read_text()[:3000], 3) for m in documented]
    return docs


def fit_f1(X: np.ndarray, y: np.ndarray, train: list[int], test: np.ndarray, config: FilterConfig) -> float:
    if len(set((y[train] >= config.threshold).tolist())) < 2:
        return 0.0  # one side of the threshold only: the forest cannot separate anything
    model, weights = _make_model(config, y[train])
    model.fit(X[train], y[train], sample_weight=weights)
    score, _ = predict_scores(model, X[test], config.threshold)
    return metrics_for(y[test], score, config.threshold)["f1"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budgets", type=int, nargs="+", default=[8, 16, 24, 32, 48])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from sklearn.model_selection import train_test_split

    docs = corpus()
    embedder = get_embedder(EmbedConfig())
    X = embedder.encode([t for _, t, _ in docs])
    y = np.array([s for _, _, s in docs])
    ids = [n for n, _, _ in docs]
    config = FilterConfig(n_estimators=200)
    counts = {int(k): int(v) for k, v in zip(*np.unique(y, return_counts=True), strict=True)}
    print(
        f"corpus: {len(docs)} real documents, documents per score {counts}; "
        f"embedder {embedder.model_id}; {args.repeats} seeds"
    )
    results: dict[str, dict[int, list[float]]] = {"random": {}, "diverse": {}, "diverse+uncertainty": {}}
    for seed in range(args.repeats):
        pool, test = train_test_split(np.arange(len(y)), test_size=0.4, random_state=seed, stratify=y)
        rng = np.random.default_rng(seed)
        order = list(rng.permutation(pool))
        for budget in args.budgets:
            results["random"].setdefault(budget, []).append(fit_f1(X, y, order[:budget], test, config))
            picked = [ids.index(i) for i, _, _ in _spread([ids[k] for k in pool], X[pool], budget, seed)]
            results["diverse"].setdefault(budget, []).append(fit_f1(X, y, picked, test, config))
        # Uncertainty: a diverse start of the smallest budget, then rounds up to each next budget.
        chosen = [ids.index(i) for i, _, _ in _spread([ids[k] for k in pool], X[pool], args.budgets[0], seed)]
        results["diverse+uncertainty"].setdefault(args.budgets[0], []).append(fit_f1(X, y, chosen, test, config))
        for budget in args.budgets[1:]:
            if len(set((y[chosen] >= 3).tolist())) < 2:
                extra = [k for k in order if k not in chosen][: budget - len(chosen)]  # nothing to be unsure with
            else:
                model, weights = _make_model(config, y[chosen])
                model.fit(X[chosen], y[chosen], sample_weight=weights)
                rest = [k for k in pool if k not in chosen]
                _, proba = predict_scores(model, X[rest], config.threshold)
                extra = [rest[i] for i in np.argsort(np.abs(proba - 0.5), kind="stable")[: budget - len(chosen)]]
            chosen = chosen + extra
            results["diverse+uncertainty"].setdefault(budget, []).append(fit_f1(X, y, chosen, test, config))
    print(
        f"\nheld-out binary F1 at threshold 3 (mean over seeds; diverse = k-means centroids + {FILL_SHARE:.0%} "
        "random fill)"
    )
    print(f"{'labels':>7} " + " ".join(f"{name:>20}" for name in results))
    for budget in args.budgets:
        print(f"{budget:>7} " + " ".join(f"{np.mean(results[name][budget]):>20.3f}" for name in results))
    for name in ("diverse", "diverse+uncertainty"):
        ratios = [np.mean(results[name][b]) / max(1e-9, np.mean(results["random"][b])) for b in args.budgets]
        print(f"{name} / random: " + ", ".join(f"{b}: {r:.2f}x" for b, r in zip(args.budgets, ratios, strict=True)))


if __name__ == "__main__":
    main()
