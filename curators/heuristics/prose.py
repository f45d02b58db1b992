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
from functools import cached_property, lru_cache
from itertools import chain
from operator import itemgetter, methodcaller

from pydantic import BaseModel, ConfigDict

from curators.heuristics.ngrams import ngram_chars
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
    top, repeated = ngram_chars(doc.words)
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
