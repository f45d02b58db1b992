"""The code rules on real source: a file that fails each rule and one that passes it, with the value measured.

Files come from the Python standard library and its C headers, and from the minified plotly.js that the
plotly package ships; a failing case is sometimes a variant of a real file (a source base64-encoded into a
module, the heap diagram of heapq's essay).
"""

from __future__ import annotations

import base64
import heapq
import sysconfig
from functools import cache
from pathlib import Path

import plotly
import pytest

from curators.heuristics.code import CODE_RULES, CodeThresholds, code_verdicts, comment_line_count
from curators.heuristics.verdicts import Verdict

STDLIB = Path(sysconfig.get_paths()["stdlib"])
INCLUDE = Path(sysconfig.get_paths()["include"])


def heap_diagram() -> str:
    """The tree of heapq's essay: positions of a heap, as numbers spread over lines."""
    lines = heapq.__about__.splitlines()
    rows = [i for i, line in enumerate(lines) if line.strip() and set(line) <= set("0123456789 ")]
    return "\n".join(lines[rows[0] : rows[-1] + 1]) + "\n"


@cache
def code(name: str) -> tuple[str, str | None]:
    """(text, language) of the cases, by name."""
    if name == "plotly.min.js (head)":
        return (Path(plotly.__file__).parent / "package_data" / "plotly.min.js").read_text()[:20_000], "javascript"
    if name == "textwrap.py base64-encoded":
        blob = base64.encodebytes((STDLIB / "textwrap.py").read_bytes()).decode()
        return f'"""textwrap, base64-encoded."""\nDATA = b"""\n{blob}"""\n', "python"
    if name == "heap diagram":
        return heap_diagram(), None
    if name.endswith(".h"):
        return (INCLUDE / name).read_text(encoding="utf-8"), "c"
    return (STDLIB / name).read_text(encoding="utf-8"), "python"


def verdict(name: str, rule: str, t: CodeThresholds | None = None) -> Verdict:
    text, language = code(name)
    return code_verdicts(text, language, t or CodeThresholds())[CODE_RULES.index(rule)]


CASES = [
    ("code_max_line_length", "plotly.min.js (head)", 19667, "textwrap.py", 80),
    ("code_mean_line_length", "plotly.min.js (head)", 1332.4, "object.h", 36.39),
    ("code_alnum_fraction", "heap diagram", 0.181, "textwrap.py", 0.566),
    ("code_auto_generated", "keyword.py", 1.0, "textwrap.py", 0.0),
    ("code_numeric_lines", "encodings/rot_13.py", 0.542, "textwrap.py", 0.0),
    ("code_base64_chars", "textwrap.py base64-encoded", 0.971, "textwrap.py", 0.0),
    ("code_comment_lines", "concurrent/__init__.py", 1.0, "textwrap.py", 0.488),  # one comment, no code
    ("code_comment_lines", "collections/abc.py", 0.0, "object.h", 0.409),  # three imports, no comment
]


@pytest.mark.parametrize(("rule", "failing", "low", "passing", "high"), CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
def test_rule_fails_and_passes_on_real_code(rule: str, failing: str, low: float, passing: str, high: float) -> None:
    bad = verdict(failing, rule)
    assert (bad.passed, bad.value) == (False, pytest.approx(low, abs=5e-4)), bad
    assert bad.reason
    good = verdict(passing, rule)
    assert (good.passed, good.value, good.reason) == (True, pytest.approx(high, abs=5e-4), None), good


def test_reasons_name_the_value_and_the_bound() -> None:
    assert verdict("plotly.min.js (head)", "code_max_line_length").reason == "longest line 19667 > 1000"
    assert verdict("heap diagram", "code_alnum_fraction").reason == "share of alphanumeric characters 0.181 < 0.250"
    assert verdict("collections/abc.py", "code_comment_lines").reason == "share of comment lines 0 < 0.010"


def test_one_verdict_per_rule_in_order() -> None:
    text, language = code("textwrap.py")
    verdicts = code_verdicts(text, language, CodeThresholds())
    assert [v.rule for v in verdicts] == list(CODE_RULES)
    assert all(rule.startswith("code_") for rule in CODE_RULES) and all(v.passed for v in verdicts)


def test_comment_syntax_follows_the_language() -> None:
    header, _ = code("object.h")
    lines = header.splitlines()
    assert comment_line_count(lines, "c") == comment_line_count(lines, "C++") > 100  # /* ... */ blocks
    # As Python, its comments are the preprocessor lines ("#define ...").
    assert comment_line_count(lines, "python") == sum(line.lstrip().startswith("#") for line in lines)
    assert comment_line_count(lines, "brainfuck") is None
    # A language we know no comment syntax of, or none: the rule does not apply and passes.
    for language in (None, "brainfuck"):
        v = code_verdicts("\n".join(lines), language, CodeThresholds())[CODE_RULES.index("code_comment_lines")]
        assert (v.value, v.passed) == (0.0, True)


def test_python_strings_opened_after_code_are_not_comments() -> None:
    source = 'HELP = """\nUsage: tool [options]\n"""\n# the entry point\ndef main():\n    """Run."""\n'
    assert comment_line_count(source.splitlines(), "python") == 2  # the comment and the docstring


def test_empty_file_fails_only_the_alphanumeric_share() -> None:
    text, language = code("email/mime/__init__.py")  # an empty module
    failed = [v.rule for v in code_verdicts(text, language, CodeThresholds()) if not v.passed]
    assert text == "" and failed == ["code_alnum_fraction"]


def test_thresholds_are_the_published_ones_and_none_turns_a_bound_off() -> None:
    t = CodeThresholds()
    assert (t.max_line_length, t.max_mean_line_length, t.min_alnum_fraction, t.auto_generated_lines) == (
        1000,
        100,
        0.25,
        5,
    )
    assert (t.min_comment_lines, t.max_comment_lines) == (0.01, 0.8)
    assert verdict("plotly.min.js (head)", "code_max_line_length", CodeThresholds(max_line_length=None)).passed
    with pytest.raises(ValueError):
        CodeThresholds(max_line_lenght=1000)  # extra="forbid"
