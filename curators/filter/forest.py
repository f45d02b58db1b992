"""The educational-value filter: a random forest over sentence embeddings, trained on LLM labels.

- `train_filter` refuses too few labels or a single class (saying how many more are needed), fits a
  random forest (regressor by default; a classifier on request), and evaluates it on a held-out
  stratified split, or by stratified k-fold when labels are few: binary precision/recall/F1 at the
  threshold (FineWeb-Edu's headline figure), macro-F1 over the 0-5 classes, the confusion matrix,
  MAE, and the same figures for a majority-class baseline, so a useless filter is visible.
- Class weights balance the skewed 0-5 scale (most documents score low).
- `predict` gives a score in [0, 5] and `proba`: the share of the forest's trees that put the document
  at or above the threshold (classifier: the probability mass at or above it).
- Artefacts are saved with skops (no bare pickle), beside a JSON card.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from curators.errors import CurateError, NotEnoughLabels
from curators.filter.config import FilterConfig

CLASSES = list(range(6))
KFOLD_BELOW = 200  # fewer labels than this: k-fold evaluation instead of a single split
TRUSTED_TYPES = [
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._tree.Tree",
    "numpy.dtype",
    "builtins.int",
    "builtins.float",
]


@dataclass
class Filter:
    model: Any
    card: dict[str, Any] = field(default_factory=dict)

    @property
    def threshold(self) -> int:
        return int(self.card["threshold"])

    def predict(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(score in [0, 5], proba of score >= threshold) for each row of X."""
        if len(X) == 0:
            return np.zeros(0), np.zeros(0)
        return predict_scores(self.model, X, self.threshold)


def predict_scores(model: Any, X: np.ndarray, threshold: int) -> tuple[np.ndarray, np.ndarray]:
    if hasattr(model, "predict_proba"):
        probs = model.predict_proba(X)
        classes = np.asarray(model.classes_, dtype=float)
        score = probs @ classes
        proba = probs[:, classes >= threshold].sum(axis=1)
        return score, proba
    per_tree = np.stack([tree.predict(X) for tree in model.estimators_])
    score = np.clip(per_tree.mean(axis=0), 0, 5)
    proba = (per_tree >= threshold - 0.5).mean(axis=0)
    return score, proba


def _make_model(config: FilterConfig, y: np.ndarray) -> tuple[Any, np.ndarray | None]:
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    common = dict(
        n_estimators=config.n_estimators, min_samples_leaf=1, max_features="sqrt", n_jobs=-1, random_state=config.seed
    )
    if config.kind == "classifier":
        return RandomForestClassifier(class_weight="balanced", **common), None
    counts = np.bincount(y, minlength=6).astype(float)
    weights = len(y) / (np.count_nonzero(counts) * counts[y])  # balanced, as class_weight does
    return RandomForestRegressor(**common), weights


def metrics_for(y_true: np.ndarray, score: np.ndarray, threshold: int) -> dict[str, Any]:
    from sklearn.metrics import confusion_matrix, f1_score, mean_absolute_error, precision_recall_fscore_support

    classes_pred = np.clip(np.rint(score), 0, 5).astype(int)
    p, r, f, _ = precision_recall_fscore_support(
        y_true >= threshold, score >= threshold - 0.5, average="binary", zero_division=0
    )
    return {
        "precision": round(float(p), 4),
        "recall": round(float(r), 4),
        "f1": round(float(f), 4),
        # over the scores present (in the labels or the predictions): absent classes would count as 0
        "macro_f1": round(float(f1_score(y_true, classes_pred, average="macro", zero_division=0)), 4),
        "mae": round(float(mean_absolute_error(y_true, score)), 4),
        "confusion": confusion_matrix(y_true, classes_pred, labels=CLASSES).tolist(),
        "n": int(len(y_true)),
    }


def check_labels(y: np.ndarray, config: FilterConfig) -> None:
    if len(y) < config.min_labels:
        raise NotEnoughLabels(
            f"only {len(y)} usable labels; the filter needs at least {config.min_labels} "
            f"({config.min_labels - len(y)} more)",
            hint=f"label more: `curate label --n {max(config.min_labels * 2, 50)}` (paid answers are reused)",
        )
    present = np.unique(y)
    if len(present) < 2:
        raise NotEnoughLabels(
            f"every label has the same score ({int(present[0])}): nothing to learn",
            hint="label more documents, from more varied sources, or use a stronger labeller model",
        )
    if not ((y >= config.threshold).any() and (y < config.threshold).any()):
        side = "at or above" if (y >= config.threshold).all() else "below"
        raise NotEnoughLabels(
            f"every label is {side} the threshold {config.threshold}: the binary filter cannot be evaluated",
            hint="label more (and more varied) documents, or change filter.threshold",
        )


def _splits(y: np.ndarray, config: FilterConfig) -> list[tuple[np.ndarray, np.ndarray]]:
    from sklearn.model_selection import StratifiedKFold, train_test_split

    binary = (y >= config.threshold).astype(int)
    counts = np.bincount(y)
    strata = y if counts[counts > 0].min() >= 2 else binary  # stratify by score when every score has 2+
    if len(y) < KFOLD_BELOW:
        folds = int(min(5, np.bincount(strata)[np.unique(strata)].min()))
        if folds >= 2:
            return list(StratifiedKFold(n_splits=folds, shuffle=True, random_state=config.seed).split(y, strata))
    index = np.arange(len(y))
    train, test = train_test_split(index, test_size=config.test_size, random_state=config.seed, stratify=binary)
    return [(train, test)]


def train_filter(X: np.ndarray, y: np.ndarray, config: FilterConfig) -> tuple[Any, dict[str, Any]]:
    """Fit and evaluate. Returns (model fitted on all labels, metrics of the held-out evaluation)."""
    y = np.asarray(y, dtype=int)
    check_labels(y, config)
    started = time.perf_counter()
    held_true, held_score, held_base = [], [], []
    splits = _splits(y, config)
    for train, test in splits:
        model, weights = _make_model(config, y[train])
        model.fit(X[train], y[train], sample_weight=weights)
        score, _ = predict_scores(model, X[test], config.threshold)
        majority = np.bincount(y[train], minlength=6).argmax()
        held_true.append(y[test])
        held_score.append(score)
        held_base.append(np.full(len(test), float(majority)))
    y_true = np.concatenate(held_true)
    metrics = {
        "filter": metrics_for(y_true, np.concatenate(held_score), config.threshold),
        "majority_baseline": metrics_for(y_true, np.concatenate(held_base), config.threshold),
        "evaluation": f"{len(splits)}-fold stratified" if len(splits) > 1 else f"held-out {config.test_size:.0%}",
        "threshold": config.threshold,
        "kind": config.kind,
    }
    model, weights = _make_model(config, y)
    model.fit(X, y, sample_weight=weights)
    metrics["train_seconds"] = round(time.perf_counter() - started, 2)
    return model, metrics


def save_filter(folder: Path, model: Any, card: dict[str, Any]) -> Path:
    """`<folder>/filter.skops` + `<folder>/card.json`, written atomically."""
    import skops.io as sio

    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / ".filter.skops.tmp"
    sio.dump(model, tmp)
    tmp.replace(folder / "filter.skops")
    card = {**card, "saved": datetime.now(UTC).isoformat(timespec="seconds")}
    (folder / ".card.json.tmp").write_text(json.dumps(card, indent=2, sort_keys=True))
    (folder / ".card.json.tmp").replace(folder / "card.json")
    return folder


def load_filter(folder: Path) -> Filter:
    import skops.io as sio

    path = Path(folder) / "filter.skops"
    if not path.is_file():
        raise CurateError(f"no filter at {folder}", hint="train one with `curate train`")
    untrusted = sio.get_untrusted_types(file=path)
    unexpected = [t for t in untrusted if t not in TRUSTED_TYPES]
    if unexpected:
        raise CurateError(
            f"{path} holds types that are not a random forest: {', '.join(unexpected)}",
            hint="refusing to load it; retrain with `curate train`",
        )
    model = sio.load(path, trusted=untrusted)
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    if not isinstance(model, RandomForestRegressor | RandomForestClassifier):
        raise CurateError(
            f"{path} holds a {type(model).__name__}, not a random forest", hint="retrain with `curate train`"
        )
    card = json.loads((Path(folder) / "card.json").read_text())
    return Filter(model=model, card=card)
