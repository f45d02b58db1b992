"""Decontamination: n-gram overlap of generated text with benchmark items (the sets: `benchsets.py`).

The rules, in order:

- Normalisation, the same on both sides: Unicode NFKC, lower case, then the words are the runs of letters,
  digits and underscores (regex `\\w+`); punctuation and whitespace only separate words. "Janet's ducks,"
  and "JANET S DUCKS" are the same three words; `has_close_elements(numbers)` is two.
- N-grams: every run of `ngram` consecutive words (13 by default, as in the phi-1 / GPT-3 style check),
  hashed to 64 bits (xxh3 of each word, combined by a polynomial over 2**64): stable across processes.
- Short items: an item of fewer than `ngram` words but at least `min_item_words` is one n-gram as a whole
  (its own length); a shorter item is skipped and counted (`IndexStats.skipped_items`).
- Boilerplate: an n-gram found in more than `max_items_per_ngram` items (MMLU's moral-scenarios preamble
  is in 895) says nothing about any one item; it is dropped from the index and counted.
- Flag (method "ngram"): an item is matched when the text shares at least one n-gram with it and the shared
  n-grams are at least `min_ngram_overlap` of the item's indexed n-grams (default 0: any one shared n-gram).
- Method "ngram+difflib" (Cosmopedia's: 10-gram candidates, then difflib ratio > 0.5; choosing it makes
  `ngram` default to 10): a candidate counts only when `difflib.SequenceMatcher(None, item_words,
  window).ratio()` exceeds `difflib_threshold`, where the window is the run of the text's words as long as
  the item and aligned on a shared n-gram (the best of the alignments given by the shared n-grams).
"""

from __future__ import annotations

import difflib
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import xxhash

from curators.synth.benchsets import BenchItem, load_benchmarks
from curators.synth.config import DecontamConfig

_WORD = re.compile(r"\w+")
# An odd 64-bit multiplier: n-gram hash = sum(word_hash[i] * P**(n-1-i)) mod 2**64.
_POLY = np.uint64(0x9E3779B97F4A7C15)
MAX_ALIGNMENTS = 8

Method = Literal["ngram", "ngram+difflib"]


@dataclass(frozen=True)
class Match:
    """One benchmark item found in a text."""

    benchmark: str
    item_id: str
    method: str
    ngram: int  # words per n-gram; a short item's own length when it was indexed whole
    ngram_overlap: float  # share of the item's (indexed) distinct n-grams present in the text
    difflib_ratio: float | None  # ngram+difflib only
    matched: str  # the first shared n-gram, normalised


@dataclass(frozen=True)
class IndexStats:
    items: int
    indexed_items: int
    short_items: int  # indexed whole, as one n-gram shorter than `ngram`
    skipped_items: int  # fewer than `min_item_words` words
    ngrams: int  # (n-gram, item) entries in the index
    boilerplate_ngrams: int  # dropped: in more than `max_items_per_ngram` items
    nbytes: int  # of the index arrays
    build_s: float


def normalize_words(text: str) -> list[str]:
    """The words of a text after normalisation: NFKC, lower case, `\\w+` runs."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def ngram_hashes(words: Sequence[str], n: int) -> np.ndarray:
    """The 64-bit hashes (uint64) of every run of `n` consecutive words, in order; empty if fewer words."""
    if len(words) < n:
        return np.zeros(0, dtype=np.uint64)
    word_hashes = np.array([xxhash.xxh3_64_intdigest(w.encode("utf-8")) for w in words], dtype=np.uint64)
    count = len(words) - n + 1
    hashes = word_hashes[:count].copy()
    for i in range(1, n):
        hashes = hashes * _POLY + word_hashes[i : i + count]  # wraps modulo 2**64
    return hashes


class ContaminationIndex:
    """Benchmark n-grams as two sorted arrays (hash, item), searched with numpy: about 12 bytes an n-gram."""

    def __init__(
        self,
        config: DecontamConfig,
        items: tuple[BenchItem, ...],
        keys: np.ndarray,
        owners: np.ndarray,
        item_ngrams: np.ndarray,
        gram_length: np.ndarray,
        stats: IndexStats,
    ) -> None:
        self.config = config
        self.items = items
        self._keys = keys  # uint64, sorted
        self._owners = owners  # int32, the item of each key
        self._item_ngrams = item_ngrams  # int32 per item: its distinct indexed n-grams
        self._gram_length = gram_length  # int16 per item: words per n-gram (0: not indexed)
        self._lengths = sorted({int(x) for x in np.unique(gram_length) if x > 0}, reverse=True)
        self.stats = stats

    @classmethod
    def build(cls, items: Iterable[BenchItem], config: DecontamConfig) -> ContaminationIndex:
        started = time.perf_counter()
        items = tuple(items)
        n = config.ngram
        gram_length = np.zeros(len(items), dtype=np.int16)
        hash_parts: list[np.ndarray] = []
        owner_parts: list[np.ndarray] = []
        short = skipped = 0
        for k, item in enumerate(items):
            words = normalize_words(item.text)
            if len(words) >= n:
                length = n
            elif len(words) >= config.min_item_words:
                length = len(words)
                short += 1
            else:
                skipped += 1
                continue
            gram_length[k] = length
            hashes = ngram_hashes(words, length)
            hash_parts.append(hashes)
            owner_parts.append(np.full(len(hashes), k, dtype=np.int32))
        keys = np.concatenate(hash_parts) if hash_parts else np.zeros(0, dtype=np.uint64)
        owners = np.concatenate(owner_parts) if owner_parts else np.zeros(0, dtype=np.int32)
        # Sort by (hash, item) and keep each pair once.
        order = np.lexsort((owners, keys))
        keys, owners = keys[order], owners[order]
        distinct = np.ones(len(keys), dtype=bool)
        distinct[1:] = (keys[1:] != keys[:-1]) | (owners[1:] != owners[:-1])
        keys, owners = keys[distinct], owners[distinct]
        # Boilerplate: hashes held by too many items.
        _, counts = np.unique(keys, return_counts=True)
        common = counts > config.max_items_per_ngram
        keep = ~np.repeat(common, counts)
        keys, owners = np.ascontiguousarray(keys[keep]), np.ascontiguousarray(owners[keep])
        item_ngrams = np.bincount(owners, minlength=len(items)).astype(np.int32)
        stats = IndexStats(
            items=len(items),
            indexed_items=int(np.count_nonzero(item_ngrams)),
            short_items=short,
            skipped_items=skipped,
            ngrams=len(keys),
            boilerplate_ngrams=int(common.sum()),
            nbytes=int(keys.nbytes + owners.nbytes + item_ngrams.nbytes + gram_length.nbytes),
            build_s=round(time.perf_counter() - started, 3),
        )
        return cls(config, items, keys, owners, item_ngrams, gram_length, stats)

    def sizes(self) -> dict[str, int]:
        """Items per benchmark, as loaded (skipped ones included)."""
        return dict(Counter(item.benchmark for item in self.items))

    def find(self, text: str) -> list[Match]:
        """The benchmark items present in `text`, in the order of their first shared n-gram."""
        words = normalize_words(text)
        # item -> {hash: first position in the text}
        hits: dict[int, dict[int, int]] = {}
        for length in self._lengths:
            hashes = ngram_hashes(words, length)
            if not len(hashes):
                continue
            unique, first = np.unique(hashes, return_index=True)
            lo = np.searchsorted(self._keys, unique, side="left")
            hi = np.searchsorted(self._keys, unique, side="right")
            for j in np.nonzero(hi > lo)[0]:
                for owner in self._owners[lo[j] : hi[j]].tolist():
                    if self._gram_length[owner] == length:
                        hits.setdefault(owner, {})[int(unique[j])] = int(first[j])
        found: list[tuple[int, Match]] = []
        for owner, shared in hits.items():
            overlap = len(shared) / int(self._item_ngrams[owner])
            if overlap < self.config.min_ngram_overlap:
                continue
            length = int(self._gram_length[owner])
            start = min(shared.values())
            ratio = None
            if self.config.method == "ngram+difflib":
                ratio = _best_ratio(normalize_words(self.items[owner].text), words, shared, length)
                if ratio <= self.config.difflib_threshold:
                    continue
            item = self.items[owner]
            match = Match(
                benchmark=item.benchmark,
                item_id=item.item_id,
                method=self.config.method,
                ngram=length,
                ngram_overlap=round(overlap, 4),
                difflib_ratio=None if ratio is None else round(ratio, 4),
                matched=" ".join(words[start : start + length]),
            )
            found.append((start, match))
        found.sort(key=lambda pair: (pair[0], pair[1].benchmark, pair[1].item_id))
        return [match for _, match in found]


def _best_ratio(item_words: list[str], words: list[str], shared: dict[int, int], length: int) -> float:
    """difflib ratio of the item and the text's window of the item's length, best over the alignments
    that the shared n-grams give (text position - item position), the most frequent first."""
    item_positions: dict[int, int] = {}
    for i, h in enumerate(ngram_hashes(item_words, length).tolist()):
        item_positions.setdefault(h, i)
    offsets = Counter(pos - item_positions[h] for h, pos in shared.items() if h in item_positions)
    best = 0.0
    for offset, _ in offsets.most_common(MAX_ALIGNMENTS):
        window = words[max(0, offset) : max(0, offset + len(item_words))]
        ratio = difflib.SequenceMatcher(None, item_words, window, autojunk=False).ratio()
        best = max(best, ratio)
    return best


def build_index(config: DecontamConfig, wheel_dir: Path | None = None) -> ContaminationIndex:
    """Load the benchmarks the config names (and its JSONL files) and index them."""
    return ContaminationIndex.build(load_benchmarks(config.benchmarks, config.extra_jsonl, wheel_dir), config)


def contamination_rows(gen_id: str, matches: Iterable[Match], run_id: str) -> list[dict]:
    """Rows of the `contamination` table (warehouse.schemas.CONTAMINATION) for one generation."""
    return [
        {
            "id": gen_id,
            "benchmark": m.benchmark,
            "item_id": m.item_id,
            "method": m.method,
            "ngram": m.ngram,
            "ngram_overlap": m.ngram_overlap,
            "difflib_ratio": m.difflib_ratio,
            "matched": m.matched,
            "run_id": run_id,
        }
        for m in matches
    ]


def removals_table(rows: Iterable[Mapping[str, Any]], sizes: Mapping[str, int] | None = None) -> list[dict]:
    """Per benchmark, like Cosmopedia's decontamination report: generations flagged (to remove) and distinct
    items matched; with `sizes` (e.g. `index.sizes()`), every benchmark appears, with its item count."""
    generations: dict[str, set[str]] = {name: set() for name in sizes or {}}
    matched_items: dict[str, set[str]] = {name: set() for name in sizes or {}}
    for row in rows:
        generations.setdefault(row["benchmark"], set()).add(row["id"])
        matched_items.setdefault(row["benchmark"], set()).add(row["item_id"])
    table = []
    for name in sorted(generations):
        entry: dict[str, Any] = {
            "benchmark": name,
            "generations_flagged": len(generations[name]),
            "items_matched": len(matched_items[name]),
        }
        if sizes is not None:
            entry["benchmark_items"] = sizes.get(name, 0)
        table.append(entry)
    return table
