"""Decontamination: n-gram overlap of a text (a document or a generation) with benchmark items (the sets:
`benchsets.py`).

The rules, in order:

- Normalisation, the same on both sides: Unicode NFKC, lower case, then the words are the runs of letters,
  digits and underscores (regex `\\w+`); punctuation and whitespace only separate words. "Janet's ducks,"
  and "JANET S DUCKS" are the same three words; `has_close_elements(numbers)` is two.
- N-grams: every run of `ngram` consecutive words (13 by default, as in the phi-1 / GPT-3 style check),
  hashed to 64 bits (a seeded random value per word of the items, combined by a polynomial over 2**64).
- Numbers: an n-gram with fewer than 3 words holding a letter ("1 2 3 4 5 ...", "primes 2 3 5 7 11 ...",
  a row of a table) says nothing about an item and is not indexed (counted); real code and data hold such
  runs, and MATH's solutions too.
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
import json
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from curators.decontam.benchsets import BenchItem, load_benchmarks
from curators.decontam.config import DecontamConfig

_WORD = re.compile(r"\w+")
# An odd 64-bit multiplier: n-gram hash = sum(word_value[i] * P**(n-1-i)) mod 2**64.
_POLY = np.uint64(0x9E3779B97F4A7C15)
_SEED = 20241125  # of the random value of each vocabulary word: the same index in every process
MAX_ALIGNMENTS = 8
MIN_WORDS_WITH_A_LETTER = 3  # of an indexed n-gram: fewer is a run of numbers ("primes 2 3 5 7 11 13 ...")

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
    items: int  # texts indexed or not (each variant of an item counts)
    indexed_items: int
    short_items: int  # indexed whole, as one n-gram shorter than `ngram`
    skipped_items: int  # fewer than `min_item_words` words
    ngrams: int  # (n-gram, item) entries in the index
    boilerplate_ngrams: int  # dropped: in more than `max_items_per_ngram` items
    numeric_ngrams: int  # dropped: under 3 words with a letter ("1 2 3 4 ...", a list of primes)
    vocabulary: int  # distinct words of the items
    nbytes: int  # of the index arrays
    build_s: float


def normalize_words(text: str) -> list[str]:
    """The words of a text after normalisation: NFKC, lower case, `\\w+` runs."""
    return _WORD.findall(unicodedata.normalize("NFKC", text).lower())


def rolling_hashes(values: np.ndarray, n: int) -> np.ndarray:
    """The 64-bit hashes (uint64) of every run of `n` consecutive word values, in order; empty if fewer."""
    count = len(values) - n + 1
    if count <= 0:
        return np.zeros(0, dtype=np.uint64)
    hashes = values[:count].copy()
    for i in range(1, n):
        hashes = hashes * _POLY + values[i : i + count]  # wraps modulo 2**64
    return hashes


def _window_sums(flags: np.ndarray, n: int) -> np.ndarray:
    """For every run of `n` consecutive positions: how many of them are set."""
    total = np.concatenate([[0], np.cumsum(flags, dtype=np.int64)])
    return total[n:] - total[:-n]


@dataclass(frozen=True)
class _Grams:
    """The indexed n-grams of one length: sorted hashes, their items, and a presence bitmap over the top bits
    of the hash that turns most lookups away before the binary search."""

    keys: np.ndarray  # uint64, sorted
    owners: np.ndarray  # int32, the item of each key
    present: np.ndarray  # bool, 2**bits
    shift: np.uint64  # 64 - bits

    @classmethod
    def of(cls, keys: np.ndarray, owners: np.ndarray) -> _Grams:
        bits = int(min(24, max(8, np.ceil(np.log2(max(2, len(keys)))) + 2)))
        shift = np.uint64(64 - bits)
        present = np.zeros(1 << bits, dtype=bool)
        present[keys >> shift] = True
        return cls(keys, owners, present, shift)

    def lookup(self, hashes: np.ndarray, candidates: np.ndarray) -> Iterable[tuple[int, int, int]]:
        """(position, hash, item) for every candidate position whose hash is indexed, positions ascending."""
        positions = np.nonzero(candidates & self.present[hashes >> self.shift])[0]
        if not len(positions):
            return
        wanted = hashes[positions]
        lo = np.searchsorted(self.keys, wanted)
        inside = lo < len(self.keys)
        hit = np.zeros(len(wanted), dtype=bool)
        hit[inside] = self.keys[lo[inside]] == wanted[inside]
        for j in np.nonzero(hit)[0].tolist():
            h, k = wanted[j], int(lo[j])
            while k < len(self.keys) and self.keys[k] == h:
                yield int(positions[j]), int(h), int(self.owners[k])
                k += 1


class ContaminationIndex:
    """Benchmark n-grams as sorted arrays (hash, item) per n-gram length, searched with numpy: about 12 bytes
    an n-gram. Each word of the items' vocabulary has a random 64-bit value; an n-gram's hash is a polynomial
    of its words' values. A text's word outside the vocabulary is in no item, so no run of words holding one
    is looked up. (Hashes live in this process only, never in the warehouse.)"""

    def __init__(
        self,
        config: DecontamConfig,
        items: tuple[BenchItem, ...],
        vocabulary: dict[str, int],
        values: np.ndarray,
        grams: dict[int, _Grams],
        item_ngrams: np.ndarray,
        gram_length: np.ndarray,
        stats: IndexStats,
    ) -> None:
        self.config = config
        self.items = items
        self._vocabulary = vocabulary  # word -> its number
        self._values = values  # uint64 per word number: its random value
        self._grams = grams  # n-gram length -> its sorted keys
        self._item_ngrams = item_ngrams  # int32 per item: its distinct indexed n-grams
        self._gram_length = gram_length  # int16 per item: words per n-gram (0: not indexed)
        self.stats = stats

    def _word_values(self, words: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Each word's value, and whether it is outside the vocabulary (value 0)."""
        get = self._vocabulary.get
        numbers = np.array([get(w, -1) for w in words], dtype=np.int64)
        unknown = numbers < 0
        return np.where(unknown, np.uint64(0), self._values[np.maximum(numbers, 0)]), unknown

    @classmethod
    def build(cls, items: Iterable[BenchItem], config: DecontamConfig) -> ContaminationIndex:
        started = time.perf_counter()
        items = tuple(items)
        n = config.ngram
        vocabulary: dict[str, int] = {}
        texts: list[list[int]] = []
        for item in items:
            texts.append([vocabulary.setdefault(w, len(vocabulary)) for w in normalize_words(item.text)])
        values = np.random.default_rng(_SEED).integers(
            0, 2**64 - 1, size=len(vocabulary), dtype=np.uint64, endpoint=True
        )
        has_letter = np.fromiter((any(c.isalpha() for c in w) for w in vocabulary), dtype=bool, count=len(vocabulary))
        gram_length = np.zeros(len(items), dtype=np.int16)
        parts: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        short = skipped = numeric = 0
        for k, numbers in enumerate(texts):
            if len(numbers) >= n:
                length = n
            elif len(numbers) >= config.min_item_words:
                length = len(numbers)
                short += 1
            else:
                skipped += 1
                continue
            gram_length[k] = length
            ids = np.asarray(numbers, dtype=np.int64)
            hashes = rolling_hashes(values[ids], length)
            wordy = _window_sums(has_letter[ids], length) >= MIN_WORDS_WITH_A_LETTER
            numeric += int((~wordy).sum())
            hashes = hashes[wordy]
            keys, owners = parts.setdefault(length, ([], []))
            keys.append(hashes)
            owners.append(np.full(len(hashes), k, dtype=np.int32))
        grams: dict[int, _Grams] = {}
        boilerplate = entries = nbytes = 0
        owner_parts = []
        for length, (key_parts, owner_list) in sorted(parts.items(), reverse=True):
            keys, owners = np.concatenate(key_parts), np.concatenate(owner_list)
            # Sort by (hash, item) and keep each pair once.
            order = np.lexsort((owners, keys))
            keys, owners = keys[order], owners[order]
            distinct = np.ones(len(keys), dtype=bool)
            distinct[1:] = (keys[1:] != keys[:-1]) | (owners[1:] != owners[:-1])
            keys, owners = keys[distinct], owners[distinct]
            # Boilerplate: hashes held by too many items.
            _, counts = np.unique(keys, return_counts=True)
            common = counts > config.max_items_per_ngram
            boilerplate += int(common.sum())
            keep = ~np.repeat(common, counts)
            keys, owners = np.ascontiguousarray(keys[keep]), np.ascontiguousarray(owners[keep])
            if len(keys):
                grams[length] = _Grams.of(keys, owners)
                entries += len(keys)
                nbytes += keys.nbytes + owners.nbytes + grams[length].present.nbytes
                owner_parts.append(owners)
        all_owners = np.concatenate(owner_parts) if owner_parts else np.zeros(0, dtype=np.int32)
        item_ngrams = np.bincount(all_owners, minlength=len(items)).astype(np.int32)
        stats = IndexStats(
            items=len(items),
            indexed_items=int(np.count_nonzero(item_ngrams)),
            short_items=short,
            skipped_items=skipped,
            ngrams=entries,
            boilerplate_ngrams=boilerplate,
            numeric_ngrams=numeric,
            vocabulary=len(vocabulary),
            nbytes=int(nbytes + values.nbytes + item_ngrams.nbytes + gram_length.nbytes),
            build_s=round(time.perf_counter() - started, 3),
        )
        return cls(config, items, vocabulary, values, grams, item_ngrams, gram_length, stats)

    def save(self, folder: Path) -> None:
        """Write the index into `folder` (new or empty): its arrays as .npy files, the vocabulary as text, the
        items as an Arrow file, the stats as JSON. `load` reads it back as this index."""
        import pyarrow as pa
        import pyarrow.feather as feather

        folder.mkdir(parents=True, exist_ok=True)
        arrays = {"values": self._values, "item_ngrams": self._item_ngrams, "gram_length": self._gram_length}
        for length, grams in self._grams.items():
            arrays[f"keys-{length}"], arrays[f"owners-{length}"] = grams.keys, grams.owners
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", np.ascontiguousarray(array), allow_pickle=False)
        # Words are runs of \w: none holds a newline.
        (folder / "vocabulary.txt").write_text("\n".join(self._vocabulary), encoding="utf-8")
        columns = {f: [getattr(item, f) for item in self.items] for f in ("benchmark", "item_id", "text")}
        feather.write_feather(pa.table(columns), folder / "items.arrow", compression="uncompressed")
        stats = {"lengths": sorted(self._grams), **asdict(self.stats)}
        (folder / "index.json").write_text(json.dumps(stats), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path, config: DecontamConfig) -> ContaminationIndex:
        """The index `save` wrote into `folder`, matching texts under `config` (whose build settings must be the
        ones it was built with: `curators.decontam.stored_index` keys folders by them). Its arrays are memory
        mapped: processes that load the same index share its pages."""
        import pyarrow.feather as feather

        def array(name: str) -> np.ndarray:
            return np.load(folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)

        meta = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        lengths = meta.pop("lengths")
        words = (folder / "vocabulary.txt").read_text(encoding="utf-8")
        vocabulary = {w: k for k, w in enumerate(words.split("\n"))} if words else {}
        columns = feather.read_table(folder / "items.arrow", memory_map=True).to_pydict()
        items = tuple(map(BenchItem, columns["benchmark"], columns["item_id"], columns["text"]))
        grams = {length: _Grams.of(array(f"keys-{length}"), array(f"owners-{length}")) for length in lengths}
        if len(vocabulary) != len(array("values")) or len(items) != len(array("item_ngrams")):
            raise ValueError(f"the stored index in {folder} is incomplete")
        return cls(
            config,
            items,
            vocabulary,
            array("values"),
            grams,
            array("item_ngrams"),
            array("gram_length"),
            IndexStats(**meta),
        )

    def sizes(self) -> dict[str, int]:
        """Items per benchmark, as loaded (skipped ones included; the variants of an item count once)."""
        return dict(Counter(benchmark for benchmark, _ in {(item.benchmark, item.item_id) for item in self.items}))

    def find(self, text: str) -> list[Match]:
        """The benchmark items present in `text`, in the order of their first shared n-gram."""
        words = normalize_words(text)
        values, unknown = self._word_values(words)
        # item -> {hash: first position in the text}
        hits: dict[int, dict[int, int]] = {}
        for length, grams in self._grams.items():
            if len(words) < length:
                continue
            candidates = _window_sums(unknown, length) == 0
            for position, h, owner in grams.lookup(rolling_hashes(values, length), candidates):
                hits.setdefault(owner, {}).setdefault(h, position)
        found: list[tuple[int, Match]] = []
        for owner, shared in hits.items():
            overlap = len(shared) / int(self._item_ngrams[owner])
            if overlap < self.config.min_ngram_overlap:
                continue
            length = int(self._gram_length[owner])
            start = min(shared.values())
            ratio = None
            if self.config.method == "ngram+difflib":
                item_words = normalize_words(self.items[owner].text)
                item_hashes = rolling_hashes(self._word_values(item_words)[0], length)
                ratio = _best_ratio(item_words, item_hashes, words, shared)
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
        # One match per item: of its variants, the one whose n-grams the text holds most of.
        best: dict[tuple[str, str], tuple[int, Match]] = {}
        for start, match in found:
            key = (match.benchmark, match.item_id)
            if key not in best or (-match.ngram_overlap, start) < (-best[key][1].ngram_overlap, best[key][0]):
                best[key] = (start, match)
        ordered = sorted(best.values(), key=lambda pair: (pair[0], pair[1].benchmark, pair[1].item_id))
        return [match for _, match in ordered]


def _best_ratio(item_words: list[str], item_hashes: np.ndarray, words: list[str], shared: dict[int, int]) -> float:
    """difflib ratio of the item and the text's window of the item's length, best over the alignments
    that the shared n-grams give (text position - item position), the most frequent first."""
    item_positions: dict[int, int] = {}
    for i, h in enumerate(item_hashes.tolist()):
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


def contamination_rows(text_id: str, target: str, matches: Iterable[Match], run_id: str) -> list[dict]:
    """Rows of the `contamination` table (warehouse.schemas.CONTAMINATION) for one document or generation."""
    return [
        {
            "id": text_id,
            "target": target,
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
    """Per benchmark, like Cosmopedia's decontamination report: texts flagged (to remove) and distinct items
    matched; with `sizes` (e.g. `index.sizes()`), every benchmark appears, with its item count."""
    flagged: dict[str, set[str]] = {name: set() for name in sizes or {}}
    matched_items: dict[str, set[str]] = {name: set() for name in sizes or {}}
    for row in rows:
        flagged.setdefault(row["benchmark"], set()).add(row["id"])
        matched_items.setdefault(row["benchmark"], set()).add(row["item_id"])
    table = []
    for name in sorted(flagged):
        entry: dict[str, Any] = {
            "benchmark": name,
            "flagged": len(flagged[name]),
            "items_matched": len(matched_items[name]),
        }
        if sizes is not None:
            entry["benchmark_items"] = sizes.get(name, 0)
        table.append(entry)
    return table
