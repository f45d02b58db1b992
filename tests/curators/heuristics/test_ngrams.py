"""Gopher repetition's n-gram counts (curators/heuristics/ngrams.py): both ways give datatrove's values."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable

import pytest

from curators.heuristics import ngrams
from curators.heuristics.words import split_words
from tests.curators.heuristics.test_prose import text

# --- Gopher repetition's n-gram counts: both ways of computing them give datatrove's values ---------------------


def datatrove_ngram_chars(words: list[str]) -> tuple[list[int], list[int]]:
    """GopherRepetitionFilter's find_top_duplicate (n = 2..4) and find_all_duplicate (n = 5..10), written as
    datatrove does, with one difference `ngrams._ngram_chars_python` states: n-grams compared as word tuples."""
    top = []
    for n in (2, 3, 4):
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        if not grams:
            top.append(0)
            continue
        gram, times = Counter(grams).most_common(1)[0]
        top.append(len(" ".join(gram)) * times)
    repeated = []
    for n in range(5, 11):
        seen: set[tuple[str, ...]] = set()
        chars = i = 0
        while i < len(words) - n + 1:
            gram = tuple(words[i : i + n])
            if gram in seen:
                chars += len("".join(gram))
                i += n
            else:
                seen.add(gram)
                i += 1
        repeated.append(chars)
    return top, repeated


@pytest.mark.parametrize("way", [ngrams._ngram_chars_python, ngrams._ngram_chars_numpy], ids=["python", "numpy"])
def test_ngram_chars_are_datatrove_s(way: Callable[[list[str]], tuple[list[int], list[int]]]) -> None:
    rng = random.Random(4)
    for _ in range(1500):
        sizes = rng.choice([1, 2, 3, 5, 20, 500])
        vocabulary = ["".join(rng.choice("abcé") for _ in range(rng.randint(1, 6))) for _ in range(sizes)]
        words = [rng.choice(vocabulary) for _ in range(rng.choice([0, 1, 2, 3, 4, 5, 9, 10, 11, 30, 200, 700]))]
        assert way(words) == datatrove_ngram_chars(words), words
    for name in ("heapq essay", "essay x4", "textwrap.py", "calendar 2024", "essay as bullets"):
        words = split_words(text(name))
        assert len(words) > ngrams.NUMPY_NGRAM_WORDS
        assert way(words) == datatrove_ngram_chars(words), name


def test_long_documents_take_the_numpy_way(monkeypatch: pytest.MonkeyPatch) -> None:
    taken = []
    monkeypatch.setattr(ngrams, "_ngram_chars_numpy", lambda words: taken.append(len(words)) or ([0] * 3, [0] * 6))
    ngrams.ngram_chars(["w"] * (ngrams.NUMPY_NGRAM_WORDS - 1))
    ngrams.ngram_chars(["w"] * ngrams.NUMPY_NGRAM_WORDS)
    assert taken == [ngrams.NUMPY_NGRAM_WORDS]
