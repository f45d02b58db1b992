from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from curators.config import EmbedConfig, FilterConfig
from curators.errors import CurateError
from curators.filter.forest import load_filter, train_filter
from curators.filter.store import train_and_register
from tests.realtext import build_labelled_warehouse


def test_too_few_labels_or_one_class_is_refused_with_how_many_more() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(CurateError, match=r"only 5 usable labels.*\(15 more\)"):
        train_filter(rng.normal(size=(5, 8)), np.array([0, 1, 3, 4, 5]), FilterConfig(min_labels=20))
    with pytest.raises(CurateError, match="same score"):
        train_filter(rng.normal(size=(30, 8)), np.full(30, 2), FilterConfig(min_labels=20))
    with pytest.raises(CurateError, match="below the threshold"):
        train_filter(rng.normal(size=(30, 8)), np.array([0, 1, 2] * 10), FilterConfig(min_labels=20))


@pytest.mark.parametrize("kind", ["regressor", "classifier"])
def test_the_filter_learns_educational_value_from_real_text(kind: str, tmp_path: Path, data_root: Path) -> None:
    docs = build_labelled_warehouse(data_root, tmp_path)
    assert sum(s == 4 for _, _, s in docs) >= 30 and sum(s < 3 for _, _, s in docs) >= 30
    config = FilterConfig(kind=kind, min_labels=20, n_estimators=200)
    card = train_and_register(data_root, "train-1", config, EmbedConfig())
    metrics = card["metrics"]
    assert metrics["filter"]["f1"] >= 0.85, metrics
    assert metrics["majority_baseline"]["f1"] <= 0.5  # the majority predicts "not educational" (or all)
    assert metrics["filter"]["f1"] - metrics["majority_baseline"]["f1"] >= 0.3
    assert metrics["filter"]["n"] == len(docs)  # k-fold: every label held out once
    assert card["labellers"] == ["rule:source"] and card["n_labels"] == len(docs)

    flt = load_filter(data_root / "filters" / card["filter_id"])
    assert flt.card["embedder"] == "all-minilm-l6-v2@256" and flt.threshold == 3
    score, proba = flt.predict(np.zeros((2, 384), dtype=np.float32))
    assert score.shape == proba.shape == (2,) and ((proba >= 0) & (proba <= 1)).all()


def test_a_filter_file_with_foreign_types_is_refused(tmp_path: Path) -> None:
    import skops.io as sio

    folder = tmp_path / "evil"
    folder.mkdir()
    sio.dump({"model": Fraction(1, 3)}, folder / "filter.skops")  # a type no forest holds
    (folder / "card.json").write_text("{}")
    with pytest.raises(CurateError, match="not a random forest"):
        load_filter(folder)
    sio.dump(LogisticRegression(), folder / "filter.skops")  # trusted by skops, but not our model
    with pytest.raises(CurateError, match="LogisticRegression, not a random forest"):
        load_filter(folder)
