"""Heuristic quality rules for English prose: Gopher quality, Gopher repetition, C4 and FineWeb.

`prose_verdicts` returns one `Verdict` per rule of `PROSE_RULES`, in that order. Definitions, thresholds and
order are datatrove 0.10.1's (`GopherQualityFilter`, `GopherRepetitionFilter`, `C4QualityFilter`,
`FineWebQualityFilter` with their defaults), so that "a rule of family F failed" is "datatrove's filter F drops
the document" and a family's first failing rule is the check datatrove names; words are spaCy English tokens,
as datatrove counts them (`words.py`). Where datatrove stops at the first failing check, we measure every rule.

C4 is document-level: datatrove's C4 removes lines (no terminal punctuation, under 3 words, a word over 1000
characters, "javascript", policy boilerplate) and drops the document when a line it keeps says "lorem ipsum" or
holds "{", or when the lines it keeps hold under 5 sentences. We never change the text: `c4_lorem_ipsum` and
`c4_curly_bracket` are markers, `c4_sentences` counts the sentences of the lines C4 keeps, and the removals are
shares of the non-blank lines (`c4_no_terminal_punct_lines`, `c4_javascript_lines`, `c4_policy_lines`) that
fail only when given a bound (none by default: in C4 they only shorten the text).
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from collections import Counter, defaultdict
from functools import cached_property, lru_cache
from itertools import accumulate, chain, compress, count, islice, repeat
from operator import add, itemgetter, methodcaller, mul

import numpy as np
from pydantic import BaseModel, ConfigDict

from curators.heuristics.verdicts import Verdict, bounded
from curators.heuristics.words import PUNCTUATION, TERMINAL_PUNCTUATION, chunk_tokens, tokenize_chunk

# Each rule, in datatrove's check order, with what it measures (for the reasons).
_GOPHER_QUALITY = {
    "gopher_words": "words",
    "gopher_mean_word_length": "mean word length",
    "gopher_hash_ratio": "'#' per word",
    "gopher_ellipsis_ratio": "ellipses per word",
    "gopher_bullet_lines": "share of lines starting with a bullet",
    "gopher_ellipsis_lines": "share of lines ending with an ellipsis",
    "gopher_alpha_words": "share of words with a letter",
    "gopher_stop_words": "distinct stop words",
}
_GOPHER_REPETITION = {
    "gopher_rep_dup_para_frac": "share of repeated paragraphs",
    "gopher_rep_dup_para_char_frac": "character share of repeated paragraphs",
    "gopher_rep_dup_line_frac": "share of repeated lines",
    "gopher_rep_dup_line_char_frac": "character share of repeated lines",
    **{f"gopher_rep_top_{n}gram": f"character share of the top {n}-gram" for n in (2, 3, 4)},
    **{f"gopher_rep_dup_{n}gram": f"character share of repeated {n}-grams" for n in range(5, 11)},
}
_C4 = {
    "c4_lorem_ipsum": "a line C4 keeps says 'lorem ipsum'",
    "c4_curly_bracket": "a line C4 keeps holds '{'",
    "c4_sentences": "sentences in the lines C4 keeps",
    "c4_no_terminal_punct_lines": "share of lines without terminal punctuation",
    "c4_javascript_lines": "share of lines mentioning javascript",
    "c4_policy_lines": "share of policy lines",
}
_FINEWEB = {
    "fineweb_line_punct_ratio": "share of lines ending with terminal punctuation",
    "fineweb_short_line_ratio": "share of short lines",
    "fineweb_dup_line_chars": "character share of repeated lines",
    "fineweb_list_ratio": "newlines per word",
}
_WHAT = {**_GOPHER_QUALITY, **_GOPHER_REPETITION, **_C4, **_FINEWEB}
FAMILY_RULES: dict[str, tuple[str, ...]] = {
    "gopher_quality": tuple(_GOPHER_QUALITY),
    "gopher_repetition": tuple(_GOPHER_REPETITION),
    "c4": tuple(_C4),
    "fineweb": tuple(_FINEWEB),
}
PROSE_RULES: tuple[str, ...] = tuple(_WHAT)

# datatrove/pipeline/filters/gopher_quality_filter.py
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


class ProseThresholds(BaseModel):
    """The bounds of the prose rules. Defaults: datatrove 0.10.1's filter defaults (GopherQualityFilter,
    GopherRepetitionFilter, C4QualityFilter, FineWebQualityFilter in datatrove/pipeline/filters/), which are
    Gopher's (Rae et al. 2021, arXiv:2112.11446, Table A1), C4's (Raffel et al. 2020, tensorflow_datasets
    c4_utils.py) and FineWeb's (Penedo et al. 2024). None turns a bound off (datatrove: None, 0 or -1)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Gopher quality
    gopher_min_doc_words: int | None = 50  # words with a non-punctuation character
    gopher_max_doc_words: int | None = 100_000
    gopher_min_avg_word_length: float | None = 3
    gopher_max_avg_word_length: float | None = 10
    gopher_max_symbol_word_ratio: float | None = 0.1  # "#" and "..."/"…", each per word
    gopher_max_bullet_lines_ratio: float | None = 0.9
    gopher_max_ellipsis_lines_ratio: float | None = 0.3
    gopher_min_alpha_words_ratio: float | None = 0.8  # datatrove's (misnamed) max_non_alpha_words_ratio
    gopher_min_stop_words: int | None = 2
    gopher_stop_words: tuple[str, ...] = STOP_WORDS
    # Gopher repetition
    gopher_rep_dup_para_frac: float | None = 0.3
    gopher_rep_dup_para_char_frac: float | None = 0.2
    gopher_rep_dup_line_frac: float | None = 0.3
    gopher_rep_dup_line_char_frac: float | None = 0.2
    gopher_rep_top_2gram_frac: float | None = 0.2
    gopher_rep_top_3gram_frac: float | None = 0.18
    gopher_rep_top_4gram_frac: float | None = 0.16
    gopher_rep_dup_5gram_frac: float | None = 0.15
    gopher_rep_dup_6gram_frac: float | None = 0.14
    gopher_rep_dup_7gram_frac: float | None = 0.13
    gopher_rep_dup_8gram_frac: float | None = 0.12
    gopher_rep_dup_9gram_frac: float | None = 0.11
    gopher_rep_dup_10gram_frac: float | None = 0.10
    # C4 (which lines C4 keeps, and the document-level checks)
    c4_remove_citations: bool = True
    c4_filter_no_terminal_punct: bool = True
    c4_min_words_per_line: int | None = 3
    c4_max_word_length: int | None = 1000
    c4_filter_lorem_ipsum: bool = True
    c4_filter_javascript: bool = True
    c4_filter_curly_bracket: bool = True
    c4_filter_policy: bool = True
    c4_min_sentences: int | None = 5
    c4_max_no_terminal_punct_lines: float | None = None  # not in C4: its line removals only shorten the text
    c4_max_javascript_lines: float | None = None
    c4_max_policy_lines: float | None = None
    # FineWeb
    fineweb_min_line_punct_ratio: float | None = 0.12
    fineweb_line_punct_exclude_zero: bool = False
    fineweb_max_short_line_ratio: float | None = 0.67
    fineweb_short_line_length: int = 30
    fineweb_max_dup_line_char_ratio: float | None = 0.01
    fineweb_max_list_ratio: float | None = 0.3  # newlines per word


# datatrove/pipeline/filters/c4_filters.py
_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_END_PUNCTUATION = (".", "?", "!", '"', "'")
_POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
# datatrove/pipeline/filters/gopher_repetition_filter.py
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile("\n+")

_starts_with_bullet = methodcaller("startswith", ("•", "-"))
_ends_with_ellipsis = methodcaller("endswith", ("...", "…"))


class _ChunkInfo(dict[str, tuple[tuple[str, ...], int, int, int, int]]):
    """chunk -> (its words, how many, how many have a non-punctuation character, their characters, how many
    have a letter): the one cache of `prose_verdicts`. Misses are computed and remembered (dropped wholesale
    when full). A family run alone that needs only words takes them from `words.chunk_tokens` instead."""

    max_size = 1 << 19

    def __missing__(self, chunk: str) -> tuple[tuple[str, ...], int, int, int, int]:
        words = tokenize_chunk(chunk)
        content = [w for w in words if not PUNCTUATION.issuperset(w)]
        alpha = sum(1 for w in words if w.isalpha() or any(map(str.isalpha, w)))
        info = (words, len(words), len(content), sum(map(len, content)), alpha)
        if len(self) >= self.max_size:
            self.clear()
        self[chunk] = info
        return info


_chunk_info = _ChunkInfo().__getitem__


class ProseDoc:
    """One text and what the rules share about it, each computed on first use."""

    def __init__(self, text: str) -> None:
        self.text = text

    @cached_property
    def chunk_infos(self) -> list[tuple[tuple[str, ...], int, int, int, int]]:
        return list(map(_chunk_info, self.text.split()))

    @cached_property
    def words(self) -> list[str]:
        """spaCy's English tokens, whitespace left out (datatrove's `split_into_words`)."""
        infos = self.__dict__.get("chunk_infos")  # Gopher quality's, if measured
        chunks = map(itemgetter(0), infos) if infos is not None else map(chunk_tokens, self.text.split())
        return list(chain.from_iterable(chunks))

    @cached_property
    def n_words(self) -> int:
        infos, words = self.__dict__.get("chunk_infos"), self.__dict__.get("words")
        if infos is not None:
            return sum(map(itemgetter(1), infos))
        return len(words) if words is not None else sum(map(len, map(chunk_tokens, self.text.split())))

    @cached_property
    def lines(self) -> list[str]:
        """`str.splitlines()` (Gopher quality, C4)."""
        return self.text.splitlines()


def _verdict(rule: str, value: float, low: float | None = None, high: float | None = None) -> Verdict:
    return bounded(rule, _WHAT[rule], value, low, high)


def _marker(rule: str, found: bool) -> Verdict:
    return Verdict(rule, 1.0, False, _WHAT[rule]) if found else Verdict(rule, 0.0, True, None)


def _failing_first(rules: dict[str, str], reason: str) -> list[Verdict]:
    """The verdicts for a text with nothing to measure: the first rule fails with `reason`."""
    return [Verdict(rule, 0.0, i > 0, None if i else reason) for i, rule in enumerate(rules)]


def _ratio(a: float, b: float) -> float:
    return a / b if b else 0.0


# ---------------------------------------------------------------------------------------- Gopher quality


def gopher_quality(doc: ProseDoc, t: ProseThresholds) -> list[Verdict]:
    """GopherQualityFilter's checks, in its order."""
    text, infos, n_words, lines = doc.text, doc.chunk_infos, doc.n_words, doc.lines  # n_words: every token
    n_content = sum(map(itemgetter(2), infos))  # tokens with a non-punctuation character
    symbols = t.gopher_max_symbol_word_ratio
    stop_words = len(set(t.gopher_stop_words).intersection(doc.words))
    return [
        _verdict("gopher_words", n_content, t.gopher_min_doc_words, t.gopher_max_doc_words),
        _verdict(
            "gopher_mean_word_length",
            _ratio(sum(map(itemgetter(3), infos)), n_content),
            t.gopher_min_avg_word_length,
            t.gopher_max_avg_word_length,
        ),
        _verdict("gopher_hash_ratio", _ratio(text.count("#"), n_words), None, symbols),
        _verdict("gopher_ellipsis_ratio", _ratio(text.count("...") + text.count("…"), n_words), None, symbols),
        _verdict(
            "gopher_bullet_lines",
            _ratio(sum(map(_starts_with_bullet, map(str.lstrip, lines))), len(lines)),
            None,
            t.gopher_max_bullet_lines_ratio,
        ),
        _verdict(
            "gopher_ellipsis_lines",
            _ratio(sum(map(_ends_with_ellipsis, map(str.rstrip, lines))), len(lines)),
            None,
            t.gopher_max_ellipsis_lines_ratio,
        ),
        _verdict("gopher_alpha_words", _ratio(sum(map(itemgetter(4), infos)), n_words), t.gopher_min_alpha_words_ratio),
        _verdict("gopher_stop_words", stop_words, t.gopher_min_stop_words),
    ]


# ------------------------------------------------------------------------------------- Gopher repetition


def _duplicates(items: list[str]) -> tuple[int, int]:
    """datatrove's find_duplicates: (repeats of an earlier item, their characters)."""
    unique = set(items)
    return len(items) - len(unique), sum(map(len, items)) - sum(map(len, unique))


# A document of at least this many words takes `_ngram_chars_numpy`, a shorter one `_ngram_chars_python` (the same
# results: tests/curators/heuristics/test_prose.py checks both against datatrove's definitions). Measured per
# document on real prose (Debian and package documentation): 20 words 49 against 76 us, 150 words 128 against
# 191 us, 400 words 297 against 276 us, 1,000 words 661 against 453 us; 349 documents of 8 MB 1.75 against 0.75 s.
NUMPY_NGRAM_WORDS = 400


def _ngram_chars(words: list[str]) -> tuple[list[int], list[int]]:
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
            seen: set[int] = set()
            chars = next_position = 0
            for p, key in zip(positions, keys, strict=True):
                if p < next_position:
                    continue
                if key in seen:
                    chars += ends[p + n] - ends[p]
                    next_position = p + n
                else:
                    seen.add(key)
                    next_position = p + 1
            repeated.append(chars)
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
            seen: set[int] = set()
            chars = next_position = 0
            for p, key, span in zip(positions.tolist(), ranks.tolist(), spans, strict=True):
                if p < next_position:
                    continue
                if key in seen:
                    chars += span
                    next_position = p + n
                else:
                    seen.add(key)
                    next_position = p + 1
            repeated.append(chars)
    return top, repeated


def gopher_repetition(doc: ProseDoc, t: ProseThresholds) -> list[Verdict]:
    """GopherRepetitionFilter's checks, in its order (an empty text fails the first)."""
    text = doc.text
    size = len(text)
    if not size:
        return _failing_first(_GOPHER_REPETITION, "empty text")
    paragraphs = _PARAGRAPHS.split(text.strip())
    para_dups, para_chars = _duplicates(paragraphs)
    lines = _LINES.split(text)
    line_dups, line_chars = _duplicates(lines)
    verdicts = [
        _verdict("gopher_rep_dup_para_frac", para_dups / len(paragraphs), None, t.gopher_rep_dup_para_frac),
        _verdict("gopher_rep_dup_para_char_frac", para_chars / size, None, t.gopher_rep_dup_para_char_frac),
        _verdict("gopher_rep_dup_line_frac", line_dups / len(lines), None, t.gopher_rep_dup_line_frac),
        _verdict("gopher_rep_dup_line_char_frac", line_chars / size, None, t.gopher_rep_dup_line_char_frac),
    ]
    top, repeated = _ngram_chars(doc.words)
    for n, chars in zip((2, 3, 4), top, strict=True):
        bound = getattr(t, f"gopher_rep_top_{n}gram_frac")
        verdicts.append(_verdict(f"gopher_rep_top_{n}gram", chars / size, None, bound))
    for n, chars in zip(range(5, 11), repeated, strict=True):
        bound = getattr(t, f"gopher_rep_dup_{n}gram_frac")
        verdicts.append(_verdict(f"gopher_rep_dup_{n}gram", chars / size, None, bound))
    return verdicts


# ------------------------------------------------------------------------------------------------ C4


# spaCy's sentencizer (spacy/pipeline/sentencizer.pyx, spaCy 3.8.18, MIT licence): its default punct_chars.
_SENTENCE_CHARS = frozenset(
    "!.?։؟۔܀܁܂߹।॥၊။።፧፨᙮᜵᜶᠃᠉᥄᥅᪨᪩᪪᪫᭚᭛᭞᭟᰻᰼᱾᱿‼‽⁇⁈⁉⸮⸼꓿꘎꘏꛳꛷꡶꡷꣎꣏꤯꧈꧉꩝꩞꩟꫰꫱꯫﹒﹖﹗！．？𐩖𐩗𑁇𑁈𑂾𑂿𑃀𑃁𑅁𑅂𑅃𑇅𑇆𑇍𑇞𑇟𑈸𑈹𑈻𑈼"
    "𑊩𑑋𑑌𑗂𑗃𑗉𑗊𑗋𑗌𑗍𑗎𑗏𑗐𑗑𑗒𑗓𑗔𑗕𑗖𑗗𑙁𑙂𑜼𑜽𑜾𑩂𑩃𑪛𑪜𑱁𑱂𖩮𖩯𖫵𖬷𖬸𖭄𛲟𝪈｡。"
)


@lru_cache(maxsize=1 << 16)
def _is_punct(token: str) -> bool:
    """spaCy's `is_punct`: every character in a Unicode punctuation category."""
    return all(unicodedata.category(c).startswith("P") for c in token)


_PIECES = re.compile(r"\S+|\s+").findall


def count_sentences(text: str) -> int:
    """Sentences spaCy's sentencizer finds in `text` (what datatrove's `split_into_sentences` counts; 1 without
    tokens): one ends after a sentence-final token (".", "!", "?", ...) where a token follows that is neither
    punctuation nor sentence-final."""
    if text.isascii() and text.count(".") + text.count("!") + text.count("?") <= 1 and text[-1:] in ".!?":
        return 1  # at most one sentence-final character, and it is the last one
    chunks = text.split()
    if " ".join(chunks) == text:
        tokens = list(chain.from_iterable(map(itemgetter(0), map(_chunk_info, chunks))))
    else:  # whitespace other than one space between chunks is a token (here " ")
        tokens = []
        for piece in _PIECES(text):
            if not piece.isspace():
                tokens.extend(_chunk_info(piece)[0])
            elif piece != " ":
                tokens.append(" ")
    sentences = 1
    seen_final = False
    for token in tokens:
        if token in _SENTENCE_CHARS:
            seen_final = True
        elif seen_final and (token == " " or not _is_punct(token)):
            sentences += 1
            seen_final = False
    return sentences


def c4_quality(doc: ProseDoc, t: ProseThresholds) -> list[Verdict]:
    """C4QualityFilter as document-level rules (see the module's docstring), its line checks in its order."""
    lorem = curly = False
    non_blank = no_punct = javascript = policy = sentences = 0
    max_word, min_words = t.c4_max_word_length, t.c4_min_words_per_line or 0
    for raw in doc.lines:
        line = raw.strip()
        if not line:
            continue
        non_blank += 1
        if max_word is not None and len(line) > max_word and any(len(w) > max_word for w in line.split()):
            continue
        if t.c4_remove_citations and "[" in line:
            line = _CITATION.sub("", line)
        if t.c4_filter_no_terminal_punct and (not line.endswith(_END_PUNCTUATION) or line.endswith("...")):
            no_punct += 1
            continue
        if min_words > 1 and len(raw.split(None, min_words - 1)) < min_words:
            continue
        lower = line.lower()
        if t.c4_filter_lorem_ipsum and "lorem ipsum" in lower:
            lorem = True
        elif t.c4_filter_javascript and "javascript" in lower:
            javascript += 1
        elif t.c4_filter_curly_bracket and "{" in line:
            curly = True
        elif t.c4_filter_policy and any(p in lower for p in _POLICY_SUBSTRINGS):
            policy += 1
        else:
            sentences += count_sentences(line)
    return [
        _marker("c4_lorem_ipsum", lorem),
        _marker("c4_curly_bracket", curly),
        _verdict("c4_sentences", sentences, t.c4_min_sentences),
        _verdict("c4_no_terminal_punct_lines", _ratio(no_punct, non_blank), None, t.c4_max_no_terminal_punct_lines),
        _verdict("c4_javascript_lines", _ratio(javascript, non_blank), None, t.c4_max_javascript_lines),
        _verdict("c4_policy_lines", _ratio(policy, non_blank), None, t.c4_max_policy_lines),
    ]


# -------------------------------------------------------------------------------------------- FineWeb


def fineweb_quality(doc: ProseDoc, t: ProseThresholds) -> list[Verdict]:
    """FineWebQualityFilter's checks, in its order (a text without a non-blank line fails the first)."""
    text = doc.text
    lines = list(filter(str.strip, text.split("\n")))
    if not lines:
        return _failing_first(_FINEWEB, "no non-blank line")
    punct = sum(map(TERMINAL_PUNCTUATION.__contains__, map(itemgetter(-1), lines))) / len(lines)
    newlines = text.count("\n")
    return [
        Verdict("fineweb_line_punct_ratio", punct, True, None)
        if t.fineweb_line_punct_exclude_zero and punct == 0
        else _verdict("fineweb_line_punct_ratio", punct, t.fineweb_min_line_punct_ratio),
        _verdict(
            "fineweb_short_line_ratio",
            sum(map(t.fineweb_short_line_length.__ge__, map(len, lines))) / len(lines),
            None,
            t.fineweb_max_short_line_ratio,
        ),
        _verdict(
            "fineweb_dup_line_chars",
            _ratio(_duplicates(lines)[1], len(text) - newlines),
            None,
            t.fineweb_max_dup_line_char_ratio,
        ),
        _verdict("fineweb_list_ratio", _ratio(newlines, doc.n_words), None, t.fineweb_max_list_ratio),
    ]


# ---------------------------------------------------------------------------------------------- all

FAMILIES = {
    "gopher_quality": gopher_quality,
    "gopher_repetition": gopher_repetition,
    "c4": c4_quality,
    "fineweb": fineweb_quality,
}


def prose_verdicts(text: str, t: ProseThresholds) -> list[Verdict]:
    """One verdict per rule of PROSE_RULES, in that order."""
    doc = ProseDoc(text)
    return gopher_quality(doc, t) + gopher_repetition(doc, t) + c4_quality(doc, t) + fineweb_quality(doc, t)
