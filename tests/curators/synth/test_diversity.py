from __future__ import annotations

import ast
import random
import tracemalloc
from functools import cache

import numpy as np
import pytest

from curators.ingest.plan import stdlib_dir
from curators.synth import diversity
from curators.synth.diversity import (
    DiversityConfig,
    GenerationItem,
    diversity_by_axis,
    diversity_metrics,
    format_report,
    nearest_neighbour_cosines,
    opening,
)


@cache
def real_paragraphs(count: int = 200) -> tuple[str, ...]:
    """Varied real prose: docstrings (>= 40 words) of standard-library modules, at most two per file.

    Read with `ast`, not imported: importing every stdlib module has side effects (`antigravity`, `this`).
    """
    found: list[str] = []
    seen: set[str] = set()
    for path in sorted(stdlib_dir().glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        nodes = [tree] + [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        taken = 0
        for node in nodes:
            doc = " ".join((ast.get_docstring(node) or "").split())
            if len(doc.split()) >= 40 and doc[:60] not in seen:
                seen.add(doc[:60])
                found.append(doc)
                taken += 1
                if taken == 2:
                    break
        if len(found) == count:
            break
    assert len(found) == count, f"only {len(found)} stdlib docstrings found"
    return tuple(found)


def templated_paragraphs(count: int = 200) -> list[str]:
    """The failure mode: one template, one word swapped."""
    vocabulary = sorted({w for text in real_paragraphs() for w in text.lower().split() if w.isalpha()})
    swapped = random.Random(0).sample(vocabulary, count)
    template = (
        "Once upon a time there was a curious {word} who lived in a small village near the sea. "
        "Every morning the {word} walked to the market, counted the boats in the harbour, and asked the "
        "fishermen how the weather would change. One day the {word} learned that patience is the best teacher."
    )
    return [template.format(word=word) for word in swapped]


def as_items(texts: list[str] | tuple[str, ...], prefix: str = "t") -> list[GenerationItem]:
    return [GenerationItem(id=f"{prefix}{i:04d}", text=t) for i, t in enumerate(texts)]


def unit_rows(count: int, dim: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=(count, dim))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# --- text metrics on real text --------------------------------------------------------------------------


def test_templated_text_is_measured_less_diverse_than_real_text() -> None:
    config = DiversityConfig(distinct_tokens=5000)  # same token budget for both, so distinct-n compares
    real = diversity_metrics(as_items(real_paragraphs()), config)
    templated = diversity_metrics(as_items(templated_paragraphs()), config)
    assert real["distinct_tokens"] == templated["distinct_tokens"] == 5000

    assert templated["top1_opening"] == "once upon a time"
    assert templated["top1_opening_share"] == 1.0 and templated["top10_opening_share"] == 1.0
    assert real["top1_opening_share"] < 0.1 and real["top10_opening_share"] < 0.3
    for n in (1, 2, 3):
        assert templated[f"distinct_{n}"] < real[f"distinct_{n}"]
    assert templated["distinct_2"] < 0.2 < 0.5 < real["distinct_2"]
    # original/gzip size: higher = more redundant = less diverse
    assert templated["compression_ratio"] > 2 * real["compression_ratio"]
    assert templated["goals"]["top1_opening_share"]["met"] is False
    assert real["goals"]["top10_opening_share"]["met"] is (real["top10_opening_share"] <= 0.05)


def test_openings_are_normalised_and_short_texts_are_their_own_opening() -> None:
    assert opening("Once, upon a TIME there was", 4) == "once upon a time"
    assert opening("Hello, world!", 4) == "hello world"
    assert opening("", 4) == ""
    items = as_items(["Hello, world!", "hello WORLD", "Once upon a time, there", "Once upon a time..."])
    m = diversity_metrics(items, DiversityConfig())
    assert m["top1_opening_share"] == 0.5 and m["top10_opening_share"] == 1.0
    assert m["top1_opening"] in {"hello world", "once upon a time"}


def test_distinct_n_counts_within_texts_on_the_token_budget() -> None:
    items = as_items(["a b c d", "a b c d"])
    m = diversity_metrics(items, DiversityConfig())
    assert m["distinct_tokens"] == 8
    assert m["distinct_1"] == 4 / 8 and m["distinct_2"] == 3 / 6 and m["distinct_3"] == 2 / 4
    # budget of 6 tokens: the second text is cut after two words; no n-gram spans the two texts
    m = diversity_metrics(items, DiversityConfig(distinct_tokens=6))
    assert m["distinct_tokens"] == 6
    assert m["distinct_1"] == 4 / 6 and m["distinct_2"] == 3 / 4 and m["distinct_3"] == 2 / 2


# --- sampling -------------------------------------------------------------------------------------------


def test_sampling_is_bounded_reproducible_and_independent_of_input_order() -> None:
    items = as_items(real_paragraphs())
    config = DiversityConfig(sample_size=50, seed=3)
    first = diversity_metrics(items, config)
    assert first["n"] == 200 and first["n_sampled"] == 50
    assert diversity_metrics(items, config) == first
    assert diversity_metrics(list(reversed(items)), config) == first
    other_seed = diversity_metrics(items, DiversityConfig(sample_size=50, seed=4))
    assert other_seed["compression_ratio"] != first["compression_ratio"]
    assert diversity_metrics(items, DiversityConfig(sample_size=5000))["n_sampled"] == 200


def test_totals_use_all_items_not_the_sample() -> None:
    items = [GenerationItem(id=f"g{i}", text=f"text number {i}", tokens_out=10, cost_usd=0.5) for i in range(20)]
    items.append(GenerationItem(id="unknown", text="no usage reported"))
    m = diversity_metrics(items, DiversityConfig(sample_size=5), near_dup_ids={"g1", "g2", "not-an-item"})
    assert m["n_sampled"] == 5
    assert m["tokens_out_total"] == 200 and m["tokens_out_mean"] == 10 and m["cost_usd_total"] == 10.0
    assert m["near_dup_rate"] == 2 / 21
    assert diversity_metrics(items, DiversityConfig())["near_dup_rate"] is None


# --- nearest neighbours ---------------------------------------------------------------------------------


def test_nearest_neighbour_share_identical_vs_orthogonal_embeddings() -> None:
    items = as_items(real_paragraphs()[:100])
    same = np.tile(unit_rows(1, 64), (100, 1))
    m = diversity_metrics(items, DiversityConfig(), embeddings=same)
    assert m["nn_cos_ge_share"] == 1.0 and m["mean_nn_cosine"] == pytest.approx(1.0, abs=1e-5)

    spread = unit_rows(100, 4096)  # random high-dimensional vectors are nearly orthogonal
    m = diversity_metrics(items, DiversityConfig(), embeddings=spread)
    assert m["nn_cos_ge_share"] == 0.0 and abs(m["mean_nn_cosine"]) < 0.15


def test_nearest_neighbour_is_another_item_and_threshold_is_inclusive() -> None:
    e1, e2 = np.eye(3)[0], np.eye(3)[1]
    close = 0.9 * e2 + np.sqrt(1 - 0.81) * np.eye(3)[2]  # cosine 0.9 with e2
    vectors = np.stack([e1, e1, e2, close])
    np.testing.assert_allclose(nearest_neighbour_cosines(vectors), [1.0, 1.0, 0.9, 0.9], atol=1e-6)
    items = as_items(["a", "b", "c", "d"])
    m = diversity_metrics(items, DiversityConfig(nn_cosine=0.9), embeddings=vectors)
    assert m["nn_cos_ge_share"] == 1.0
    m = diversity_metrics(items, DiversityConfig(nn_cosine=0.95), embeddings=vectors)
    assert m["nn_cos_ge_share"] == 0.5


def test_nearest_neighbours_in_blocks_match_the_full_matrix(monkeypatch: pytest.MonkeyPatch) -> None:
    vectors = unit_rows(300, 16, seed=1)
    vectors[7] = vectors[250]  # a duplicate in another block
    full = vectors @ vectors.T
    np.fill_diagonal(full, -np.inf)
    monkeypatch.setattr(diversity, "NN_BLOCK_BYTES", 4 * 300 * 32)  # blocks of 32 rows
    np.testing.assert_allclose(nearest_neighbour_cosines(vectors), full.max(axis=1), atol=1e-5)


def test_nearest_neighbours_of_many_items_stay_within_bounded_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    n = 6000  # the full similarity matrix would take 144 MB in float32
    monkeypatch.setattr(diversity, "NN_BLOCK_BYTES", 16 * 1024 * 1024)
    vectors = unit_rows(n, 32, seed=2).astype(np.float32)
    tracemalloc.start()
    try:
        best = nearest_neighbour_cosines(vectors)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert best.shape == (n,)
    assert peak < 48 * 1024 * 1024


# --- per axis value -------------------------------------------------------------------------------------


def test_by_axis_splits_groups_flags_small_ones_and_finds_neighbours_within_the_group() -> None:
    texts = real_paragraphs()
    kids = [GenerationItem(id=f"k{i}", text=texts[i], axes={"audience": "kids", "style": "story"}) for i in range(8)]
    adults = [
        GenerationItem(id=f"a{i}", text=texts[50 + i], axes={"audience": "adults", "style": "story"}) for i in range(3)
    ]
    no_axis = [GenerationItem(id="x", text=texts[100])]
    items = kids + adults + no_axis
    # kid i and adult i share a vector: each has a twin, but only in the other group
    base = unit_rows(12, 512, seed=5)
    vectors = np.concatenate([base[:8], base[:3], base[11:12]])

    overall = diversity_metrics(items, DiversityConfig(), embeddings=vectors)
    assert overall["nn_cos_ge_share"] == pytest.approx(6 / 12)

    rows = diversity_by_axis(items, DiversityConfig(min_group_size=5), embeddings=vectors, near_dup_ids={"k0"})
    assert [(r["axis"], r["value"], r["n"], r["small"]) for r in rows] == [
        ("audience", "adults", 3, True),
        ("audience", "kids", 8, False),
        ("style", "story", 11, False),
    ]
    adults_row, kids_row, story_row = rows
    assert kids_row["nn_cos_ge_share"] == 0.0 and adults_row["nn_cos_ge_share"] == 0.0
    assert story_row["nn_cos_ge_share"] == pytest.approx(6 / 11)
    assert kids_row["near_dup_rate"] == 1 / 8 and adults_row["near_dup_rate"] == 0.0
    assert kids_row["top1_opening_share"] == 1 / 8


# --- goals ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("dups", "met"), [(5, True), (6, False)])
def test_near_dup_goal_flips_at_half_a_percent(dups: int, met: bool) -> None:
    items = as_items([f"text {i}" for i in range(1000)])
    m = diversity_metrics(items, DiversityConfig(), near_dup_ids={f"t{i:04d}" for i in range(dups)})
    assert m["goals"]["near_dup_rate"] == {"value": dups / 1000, "goal": 0.005, "met": met}


@pytest.mark.parametrize(("repeats", "top1_met", "top10_met"), [(10, True, True), (11, False, True), (6, True, False)])
def test_opening_goals_flip_at_their_thresholds(repeats: int, top1_met: bool, top10_met: bool) -> None:
    # 1000 texts; `repeats` copies of each of 10 openings when top10 is tested, else of one opening
    openings = 10 if repeats == 6 else 1
    texts = [f"shared opening number {k} then more" for k in range(openings) for _ in range(repeats)]
    texts += [f"unique {i} opening here" for i in range(1000 - len(texts))]
    m = diversity_metrics(as_items(texts), DiversityConfig())
    assert m["n_sampled"] == 1000
    assert m["goals"]["top1_opening_share"]["met"] is top1_met
    assert m["goals"]["top10_opening_share"]["met"] is top10_met
    assert m["top1_opening_share"] == repeats / 1000


# --- report and edge cases ------------------------------------------------------------------------------


def test_report_names_every_metric_and_the_goals() -> None:
    items = [
        GenerationItem(id=f"g{i}", text=t, tokens_out=120, cost_usd=0.001, axes={"audience": ["kids", "adults"][i % 2]})
        for i, t in enumerate(templated_paragraphs(20) + list(real_paragraphs()[:20]))
    ]
    vectors = unit_rows(len(items), 32)
    config = DiversityConfig()
    overall = diversity_metrics(items, config, embeddings=vectors, near_dup_ids={"g0"})
    rows = diversity_by_axis(items, config, embeddings=vectors, near_dup_ids={"g0"})
    report = format_report(overall, rows)
    for name in [k for k in overall if k not in ("goals", "nn_cosine")]:
        assert name in report
    assert "NOT MET" in report and "'once upon a time'" in report
    assert "kids" in report and "adults" in report
    table = report.split("By axis value")[1].splitlines()
    assert len({len(line) for line in table[1:5]}) == 1  # fixed-width: header, rule and rows line up


def test_edge_cases_do_not_crash() -> None:
    empty = diversity_metrics([], DiversityConfig(), embeddings=np.zeros((0, 8)), near_dup_ids=set())
    assert empty["n"] == 0 and empty["n_sampled"] == 0
    assert empty["near_dup_rate"] is None and empty["top1_opening_share"] is None
    assert empty["distinct_2"] is None and empty["compression_ratio"] is None and empty["nn_cos_ge_share"] is None
    assert empty["tokens_out_total"] is None and empty["goals"]["top1_opening_share"]["met"] is None
    assert "n/a" in format_report(empty, diversity_by_axis([], DiversityConfig()))

    single = diversity_metrics(as_items(["Just three words"]), DiversityConfig(), embeddings=unit_rows(1, 8))
    assert single["n"] == 1 and single["top1_opening"] == "just three words" and single["top1_opening_share"] == 1.0
    assert single["nn_cos_ge_share"] is None and single["mean_nn_cosine"] is None
    assert single["distinct_3"] == 1.0

    blank = diversity_metrics(as_items(["", "   "]), DiversityConfig())
    assert blank["top1_opening"] == "" and blank["distinct_1"] is None

    with pytest.raises(ValueError, match="embeddings have 3 rows but there are 2 items"):
        diversity_metrics(as_items(["a", "b"]), DiversityConfig(), embeddings=unit_rows(3, 8))
    with pytest.raises(ValueError, match="embeddings have 3 rows but there are 2 items"):
        diversity_by_axis(as_items(["a", "b"]), DiversityConfig(), embeddings=unit_rows(3, 8))
    with pytest.raises(ValueError, match="2-D"):
        diversity_metrics(as_items(["a", "b"]), DiversityConfig(), embeddings=np.zeros(2))
