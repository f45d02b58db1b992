"""Gopher repetition's n-gram counts (datatrove's find_top_duplicate and find_all_duplicate, for n = 2..10), in
two ways that give the same values: Python's, faster on short documents, and numpy's, faster on long ones."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from itertools import accumulate, compress, count, islice, repeat
from operator import add, mul

import numpy as np

# A document of at least this many words takes `_ngram_chars_numpy`, a shorter one `_ngram_chars_python` (the same
# results: tests/curators/heuristics/test_ngrams.py checks both against datatrove's definitions). Measured per
# document on real prose (Debian and package documentation): 20 words 49 against 76 us, 150 words 128 against
# 191 us, 400 words 297 against 276 us, 1,000 words 661 against 453 us; 349 documents of 8 MB 1.75 against 0.75 s.
NUMPY_NGRAM_WORDS = 400


def ngram_chars(words: list[str]) -> tuple[list[int], list[int]]:
    """See `_ngram_chars_python`: the same values, by the faster of the two ways for this many words."""
    return _ngram_chars_numpy(words) if len(words) >= NUMPY_NGRAM_WORDS else _ngram_chars_python(words)


def _ngram_chars_python(words: list[str]) -> tuple[list[int], list[int]]:
    """For n = 2..4, the characters of the most frequent n-gram (words joined by spaces; the first one among
    equals) times its count (datatrove's find_top_duplicate); for n = 5..10, the characters of the repeated
    n-grams (words joined without spaces) when scanning left to right, jumping past each repeat (its
    find_all_duplicate). An n-gram is a key: its (n-1)-gram's key and its last word's id, in base `base`.
    Only an n-gram whose (n-1)-gram occurs twice can occur twice: each level looks at those positions only.
    One difference: datatrove compares the 5..10-grams joined without spaces, so two n-grams that split the
    same characters differently ("|ctrl-0", "|" and "|", "ctrl-0") count as one; here they are two."""
    vocab: defaultdict[str, int] = defaultdict(count().__next__)
    ids = list(map(vocab.__getitem__, words))
    base = len(vocab) or 1
    ends = list(accumulate(map(len, words), initial=0))  # characters of words[p:q]: ends[q] - ends[p]
    positions: list[int] = []  # where the (n-1)-gram occurs twice (n = 2: everywhere)
    keys = ids
    top: list[int] = []
    repeated: list[int] = []
    for n in range(2, 11):
        if n == 2:
            keys = list(map(add, map(mul, ids, repeat(base)), islice(ids, 1, None)))
        else:
            cut = bisect_right(positions, len(words) - n)
            positions = positions[:cut]
            last_words = map(ids.__getitem__, map(add, positions, repeat(n - 1)))
            keys = list(map(add, map(mul, keys[:cut], repeat(base)), last_words))
        counts = Counter(keys)
        if n <= 4:
            key, times = counts.most_common(1)[0] if counts else (None, 1)
            at = keys.index(key) if times > 1 else 0  # else every n-gram is unique: the first
            start = positions[at] if n > 2 and times > 1 else at
            top.append((ends[start + n] - ends[start] + n - 1) * times if len(words) >= n else 0)
        twice = set(compress(counts, map((1).__lt__, counts.values())))
        keep = list(map(twice.__contains__, keys))
        positions = list(compress(range(len(keys)) if n == 2 else positions, keep))
        keys = list(compress(keys, keep))
        if n >= 5:
            repeated.append(_repeated_chars(positions, keys, [ends[p + n] - ends[p] for p in positions], n))
    return top, repeated


def _ngram_chars_numpy(words: list[str]) -> tuple[list[int], list[int]]:
    """`_ngram_chars_python` with numpy: each level's n-grams are (the rank of their (n-1)-gram, their last word),
    ranked by `np.unique`, at the positions whose (n-1)-gram occurs twice; the scan of the 5..10-grams stays a loop
    over the repeated ones."""
    n_words = len(words)
    if n_words < 2:
        return [0, 0, 0], [0] * 6
    vocab: defaultdict[str, int] = defaultdict(count().__next__)
    ids = np.fromiter(map(vocab.__getitem__, words), np.int64, n_words)
    base = len(vocab)
    ends = np.zeros(n_words + 1, np.int64)  # characters of words[p:q]: ends[q] - ends[p]
    np.cumsum(np.fromiter(map(len, words), np.int64, n_words), out=ends[1:])
    positions = np.arange(n_words - 1)  # where the (n-1)-gram occurs twice (n = 2: everywhere)
    ranks = ids[:-1]  # the rank of the (n-1)-gram at each of those positions
    top: list[int] = []
    repeated: list[int] = []
    for n in range(2, 11):
        if n_words < n:
            (top if n <= 4 else repeated).append(0)
            continue
        if not positions.size:  # no (n-1)-gram occurs twice, so no n-gram does: the first one is a top n-gram
            (top if n <= 4 else repeated).append(int(ends[n]) + n - 1 if n <= 4 else 0)
            continue
        keep = positions <= n_words - n
        positions = positions[keep]
        keys = ranks[keep] * base + ids[positions + (n - 1)]
        _, first, ranks, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
        ranks = ranks.reshape(-1)
        times = int(counts.max())
        if n <= 4:  # the most frequent n-gram, the first to occur among equals (the first n-gram when all are unique)
            start = int(positions[first[counts == times].min()]) if times > 1 else 0
            top.append(int(ends[start + n] - ends[start] + n - 1) * times)
        twice = counts[ranks] > 1
        positions, ranks = positions[twice], ranks[twice]
        if n >= 5:
            spans = (ends[positions + n] - ends[positions]).tolist()
            repeated.append(_repeated_chars(positions.tolist(), ranks.tolist(), spans, n))
    return top, repeated


def _repeated_chars(positions: list[int], keys: list[int], spans: list[int], n: int) -> int:
    """find_all_duplicate's scan, over the positions of the n-grams that occur twice (ascending), their keys and
    their characters: a key seen before counts its characters and jumps past the n-gram; positions jumped over are
    not looked at (so not remembered either)."""
    seen: set[int] = set()
    chars = next_position = 0
    for p, key, span in zip(positions, keys, spans, strict=True):
        if p < next_position:
            continue
        if key in seen:
            chars += span
            next_position = p + n
        else:
            seen.add(key)
            next_position = p + 1
    return chars
