"""The prose rules on real text: a text that fails each rule and one that passes it, with the value measured.

Texts come from the Python standard library (module sources, docstrings, heapq's essay on heaps, the calendar
module's year calendar), plus excerpts pasted below; a failing case is sometimes a variant of a real text (a
paragraph repeated, lines cut short). The expected values are datatrove 0.10.1's: each case was checked with
its filters (benchmarks/heuristics_vs_datatrove.py checks agreement on 50 MB).
"""

from __future__ import annotations

import ast
import calendar
import doctest
import heapq
import keyword
import statistics
import sysconfig
import textwrap
from functools import cache
from pathlib import Path

import pytest

from curators.heuristics.prose import FAMILY_RULES, PROSE_RULES, ProseThresholds, prose_verdicts
from curators.heuristics.verdicts import Verdict
from curators.heuristics.words import split_words

STDLIB = Path(sysconfig.get_paths()["stdlib"])

# The first paragraphs of jaraco.text's "Lorem ipsum.txt" (vendored by setuptools).
LOREM_IPSUM = """\
Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore \
magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo \
consequat. Duis aute irure dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. \
Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt mollit anim id est laborum.
Curabitur pretium tincidunt lacus. Nulla gravida orci a odio. Nullam varius, turpis et commodo pharetra, est eros \
bibendum elit, nec luctus magna felis sollicitudin mauris. Integer in mauris eu nibh euismod gravida. Duis ac \
tellus et risus vulputate vehicula. Donec lobortis risus a elit. Etiam tempor. Ut ullamcorper, ligula eu tempor \
congue, eros est euismod turpis, id tincidunt sapien risus a quam.
"""
# A docstring of SciPy's LinearOperator: "in terms of user-specified" holds C4's "terms of use".
LINEAR_OPERATOR = "Linear operator defined in terms of user-specified operations."


def source(name: str) -> str:
    return (STDLIB / name).read_text(encoding="utf-8")


def docstring(name: str) -> str:
    return ast.get_docstring(ast.parse(source(name))) or ""


@cache
def text(name: str) -> str:
    """The real texts of the cases, by name."""
    about = heapq.__about__  # François Pinard's explanation of heaps: plain English prose
    lines = about.splitlines()
    makers = {
        "heapq essay": lambda: about,
        "textwrap.py": lambda: source("textwrap.py"),
        "bisect.py": lambda: source("bisect.py"),
        "statistics docstring": lambda: statistics.__doc__,
        "doctest docstring": lambda: doctest.script_from_examples.__doc__,
        "heappushpop docstring": lambda: heapq.heappushpop.__doc__,
        "json docstring": lambda: docstring("json/__init__.py"),
        "dedent docstring": lambda: textwrap.dedent.__doc__,
        "calendar 2024": lambda: calendar.TextCalendar().formatyear(2024),
        "keywords": lambda: "\n".join(keyword.kwlist),
        "lorem ipsum": lambda: LOREM_IPSUM,
        "policy": lambda: about + "\n" + LINEAR_OPERATOR + "\n",
        # variants of the essay
        "essay x4": lambda: "\n\n".join([about] * 4),
        "essay as bullets": lambda: "\n".join(f"- {line.strip()}" for line in lines if line.strip()),
        "essay cut short": lambda: "\n".join(" ".join(line.split()[:4]) + "..." for line in lines if line.strip()),
        "essay javascript": lambda: about.replace("is always its smallest element", "is, in JavaScript, its least"),
    }
    return makers[name]()


def verdict(name: str, rule: str, t: ProseThresholds | None = None) -> Verdict:
    verdicts = prose_verdicts(text(name), t or ProseThresholds())
    return verdicts[PROSE_RULES.index(rule)]


# (rule, failing text, its value, passing text, its value); values as datatrove measures them.
CASES = [
    ("gopher_words", "heappushpop docstring", 30, "heapq essay", 804),
    ("gopher_mean_word_length", "calendar 2024", 1.879, "heapq essay", 4.362),
    ("gopher_hash_ratio", "doctest docstring", 0.11, "textwrap.py", 0.0218),
    ("gopher_ellipsis_ratio", "doctest docstring", 0.13, "heapq essay", 0.0),
    ("gopher_bullet_lines", "essay as bullets", 1.0, "heapq essay", 0.0109),
    ("gopher_ellipsis_lines", "essay cut short", 1.0, "heapq essay", 0.0),
    ("gopher_alpha_words", "textwrap.py", 0.5921, "heapq essay", 0.8065),
    ("gopher_stop_words", "calendar 2024", 0, "heapq essay", 7),
    ("gopher_rep_dup_para_frac", "essay x4", 0.75, "heapq essay", 0.0),
    ("gopher_rep_dup_para_char_frac", "essay x4", 0.7444, "heapq essay", 0.0),
    ("gopher_rep_dup_line_frac", "bisect.py", 0.4444, "heapq essay", 0.0),
    ("gopher_rep_dup_line_char_frac", "bisect.py", 0.3649, "heapq essay", 0.0),
    ("gopher_rep_top_2gram", "statistics docstring", 0.503, "heapq essay", 0.0117),
    ("gopher_rep_top_3gram", "statistics docstring", 0.8256, "heapq essay", 0.0057),
    ("gopher_rep_top_4gram", "statistics docstring", 1.138, "heapq essay", 0.0038),
    ("gopher_rep_dup_5gram", "statistics docstring", 0.2252, "heapq essay", 0.0064),
    ("gopher_rep_dup_6gram", "statistics docstring", 0.208, "heapq essay", 0.0),
    ("gopher_rep_dup_7gram", "statistics docstring", 0.1832, "heapq essay", 0.0),
    ("gopher_rep_dup_8gram", "statistics docstring", 0.1744, "heapq essay", 0.0),
    ("gopher_rep_dup_9gram", "statistics docstring", 0.1747, "heapq essay", 0.0),
    ("gopher_rep_dup_10gram", "statistics docstring", 0.1733, "heapq essay", 0.0),
    ("c4_lorem_ipsum", "lorem ipsum", 1.0, "heapq essay", 0.0),
    ("c4_curly_bracket", "json docstring", 1.0, "heapq essay", 0.0),
    ("c4_sentences", "dedent docstring", 4, "heapq essay", 11),
    ("fineweb_line_punct_ratio", "calendar 2024", 0.0, "heapq essay", 0.16),
    ("fineweb_short_line_ratio", "keywords", 1.0, "heapq essay", 0.0533),
    ("fineweb_dup_line_chars", "bisect.py", 0.3782, "heapq essay", 0.0),
    ("fineweb_list_ratio", "keywords", 0.9714, "heapq essay", 0.0967),
]


@pytest.mark.parametrize(("rule", "failing", "low", "passing", "high"), CASES, ids=[c[0] for c in CASES])
def test_rule_fails_and_passes_on_real_text(rule: str, failing: str, low: float, passing: str, high: float) -> None:
    bad = verdict(failing, rule)
    assert (bad.passed, bad.value) == (False, pytest.approx(low, abs=5e-4)), bad
    assert bad.reason
    good = verdict(passing, rule)
    assert (good.passed, good.value, good.reason) == (True, pytest.approx(high, abs=5e-4), None), good


# C4's line removals only shorten the text in C4: their shares fail only when given a bound.
LINE_SHARES = [
    ("c4_no_terminal_punct_lines", "textwrap.py", "c4_max_no_terminal_punct_lines", 0.7895),
    ("c4_javascript_lines", "essay javascript", "c4_max_javascript_lines", 0.0133),
    ("c4_policy_lines", "policy", "c4_max_policy_lines", 0.0132),
]


@pytest.mark.parametrize(("rule", "name", "bound", "share"), LINE_SHARES, ids=[c[0] for c in LINE_SHARES])
def test_c4_line_shares_fail_only_with_a_bound(rule: str, name: str, bound: str, share: float) -> None:
    default = verdict(name, rule)
    assert (default.passed, default.value) == (True, pytest.approx(share, abs=5e-4))
    bounded = verdict(name, rule, ProseThresholds(**{bound: share / 2}))
    assert not bounded.passed and bounded.reason is not None
    assert verdict("lorem ipsum", rule, ProseThresholds(**{bound: 0.0})).passed  # no such line: 0.0


def test_reason_names_the_value_and_the_bound() -> None:
    assert verdict("calendar 2024", "gopher_mean_word_length").reason == "mean word length 1.88 < 3"
    assert verdict("bisect.py", "gopher_rep_dup_line_frac").reason == "share of repeated lines 0.444 > 0.300"


def test_one_verdict_per_rule_in_order_and_every_family_prefixed() -> None:
    verdicts = prose_verdicts(text("heapq essay"), ProseThresholds())
    assert [v.rule for v in verdicts] == list(PROSE_RULES)
    assert len(set(PROSE_RULES)) == len(PROSE_RULES) == 31
    assert all(all(v.passed for v in verdicts if v.rule in rules) for rules in FAMILY_RULES.values())
    for prefix, rules in zip(("gopher_", "gopher_rep_", "c4_", "fineweb_"), FAMILY_RULES.values(), strict=True):
        assert all(rule.startswith(prefix) for rule in rules)


def test_empty_text_is_dropped_by_every_family_as_datatrove_does() -> None:
    verdicts = {v.rule: v for v in prose_verdicts("", ProseThresholds())}
    first = [next(rule for rule in rules if not verdicts[rule].passed) for rules in FAMILY_RULES.values()]
    assert first == ["gopher_words", "gopher_rep_dup_para_frac", "c4_sentences", "fineweb_line_punct_ratio"]
    assert verdicts["gopher_rep_dup_para_frac"].reason == "empty text"


def test_thresholds_are_datatrove_defaults_and_none_turns_a_bound_off() -> None:
    t = ProseThresholds()
    assert (t.gopher_min_doc_words, t.gopher_max_doc_words, t.gopher_min_alpha_words_ratio) == (50, 100_000, 0.8)
    assert (t.gopher_rep_top_2gram_frac, t.gopher_rep_dup_10gram_frac, t.c4_min_sentences) == (0.2, 0.1, 5)
    assert (t.fineweb_min_line_punct_ratio, t.fineweb_max_short_line_ratio, t.fineweb_max_list_ratio) == (
        0.12,
        0.67,
        0.3,
    )
    assert verdict("calendar 2024", "gopher_mean_word_length", ProseThresholds(gopher_min_avg_word_length=None)).passed
    with pytest.raises(ValueError):
        ProseThresholds(gopher_min_words=3)  # extra="forbid"


# spaCy's English tokenizer (spacy.blank("en")) on these, as datatrove sees words.
SPACY_TOKENS = [
    ("don't stop", ["do", "n't", "stop"]),
    ("(e.g. heaps),", ["(", "e.g.", "heaps", ")", ","]),
    ("U.S.A. and the U.K.", ["U.S.A.", "and", "the", "U.K."]),
    ("os.path.join() returns", ["os.path.join", "(", ")", "returns"]),
    ("well-known 10km 3-4", ["well", "-", "known", "10", "km", "3", "-", "4"]),
    ("x... ``code`` C++.", ["x", "...", "`", "`", "code", "`", "`", "C++", "."]),
    ("http://example.com/a.html. foo.Bar", ["http://example.com/a.html", ".", "foo", ".", "Bar"]),
    ("\"hi'' it's 5pm", ['"', "hi", "''", "it", "'s", "5", "pm"]),
    ("drivers/gpu/vc4_bo.c a,b", ["drivers", "/", "gpu", "/", "vc4_bo.c", "a", ",", "b"]),
]


@pytest.mark.parametrize(("text_", "tokens"), SPACY_TOKENS)
def test_words_are_spacy_english_tokens(text_: str, tokens: list[str]) -> None:
    assert split_words(text_) == tokens
