"""The rules new instructions pass: Self-Instruct's and Evol-Instruct's, each failure a reason."""

from __future__ import annotations

import json

import pytest

from curators.errors import ConfigError
from curators.instruct.checks import RougePool, clean_instruction, evolution_failure, is_apology, rouge_l, rule_failure
from curators.instruct.config import InstructionChecks
from curators.instruct.seed_tasks import PACKAGED, load_seed_tasks

CHECKS = InstructionChecks()


@pytest.mark.parametrize(
    ("text", "status"),
    [
        ("Explain why the sky looks blue at noon.", None),
        ("Name three uses of copper in household wiring.", None),
        ("Say hi now", "too_short"),  # 3 words: Self-Instruct drops <= 3
        ("Summarise this please today", None),  # 4 words pass
        (" ".join(["word"] * 151), "too_long"),
        ("Draw a cat sitting on a mat.", "blacklisted"),
        ("Describe the picture of the harbour at dawn.", "blacklisted"),
        ("Open the file and count its lines, please.", "blacklisted"),
        ("Go to the market and compare the prices of apples.", "blacklisted"),
        ("Listen to the audio and write down what they say.", "blacklisted"),
        ("Read the mapping of keys to values in this dictionary.", None),  # "map" only as a whole word
        ("-- explain what a closure is in Python", "bad_start"),
        ("¿Cómo se forma el arcoíris en el cielo?", "bad_start"),
        ("Ωmega is the last letter: list five Greek letters.", "bad_start"),
        ("", "empty"),
    ],
)
def test_self_instruct_rules(text: str, status: str | None) -> None:
    found = rule_failure(text, CHECKS)
    assert (found[0] if found else None) == status
    if found:
        assert found[1]  # every drop says why


def test_list_numbering_and_quotes_are_removed_before_the_rules() -> None:
    assert clean_instruction('  3. "Explain how tides work."  ') == "Explain how tides work."
    assert clean_instruction("Task 4: Sort these words by length.") == "Sort these words by length."
    assert clean_instruction("- List two prime numbers above 50.") == "List two prime numbers above 50."


def test_the_pool_drops_an_instruction_too_similar_to_one_kept_and_names_it() -> None:
    pool = RougePool(threshold=0.7)
    assert pool.check("a", "Write a short poem about the sea at night.")[2] is None
    f, closest, failure = pool.check("b", "Write a short poem about the sea at dawn.")
    assert failure is not None and failure[0] == "similar" and closest == "a" and f > 0.7
    assert "a" in failure[1]
    assert pool.check("c", "List the causes of the French Revolution.")[2] is None
    assert pool.ids == ["a", "c"]  # the dropped one does not join the pool


def test_the_pool_reports_the_exact_highest_rouge_l_of_rouge_score() -> None:
    texts = [
        "Compute the area of a circle of radius 3.",
        "Explain the area of a circle with radius three.",
        "Translate this sentence into French.",
        "Give the area of a square of side 3.",
    ]
    pool = RougePool(threshold=1.0)
    for i, text in enumerate(texts[:-1]):
        pool.add(str(i), text)
    f, closest = pool.closest(texts[-1])
    expected = max(rouge_l(t, texts[-1]) for t in texts[:-1])
    assert f == pytest.approx(expected) and closest == "0"


def test_evolution_eliminations() -> None:
    parent = "Explain how a bicycle stays upright."
    assert evolution_failure(parent, "Explain how a bicycle stays upright.", 0.9)[0] == "no_gain"
    assert evolution_failure(parent, "explain how a bicycle stays upright!", 0.9)[0] == "no_gain"
    leaked = "#Rewritten Prompt#: Explain, with the physics of trail and gyroscopic effects, how a bicycle balances."
    assert evolution_failure(parent, leaked, 0.9)[0] == "leaked_template"
    assert evolution_failure(parent, "Rewrite the given prompt so it asks about trail.", 0.9)[0] == "leaked_template"
    assert evolution_failure(parent, "I'm sorry, but I cannot rewrite that.", 0.9)[0] == "apology"
    deeper = (
        "Explain, step by step, how the trail of the front fork and the rider's steering keep a moving bicycle "
        "upright, and why a stationary one falls."
    )
    assert evolution_failure(parent, deeper, 0.9) is None


def test_an_apology_is_short_and_sorry() -> None:
    assert is_apology("Sorry, I can't help with that.")
    assert not is_apology("Photosynthesis turns light into chemical energy. " * 20 + "Sorry for the length.")


def test_the_packaged_seed_tasks_spread_over_kinds_and_subjects_and_pass_the_rules() -> None:
    tasks = load_seed_tasks()
    assert 140 <= len(tasks) <= 160
    rows = [json.loads(line) for line in PACKAGED.read_text().splitlines()]
    kinds = {r["kind"] for r in rows}
    assert kinds == {
        "open_qa",
        "explanation",
        "coding",
        "math_word_problem",
        "rewriting",
        "classification",
        "brainstorming",
    }
    assert len({r["subject"] for r in rows}) >= 25
    assert all(rule_failure(r["instruction"], CHECKS) is None for r in rows)
    pool = RougePool(threshold=0.7)
    assert all(pool.check(t.id, t.text)[2] is None for t in tasks)  # no seed is a near-copy of another


def test_a_user_seed_file_replaces_the_packaged_one_and_a_bad_line_is_named(tmp_path) -> None:
    good = tmp_path / "seeds.jsonl"
    good.write_text(
        '{"instruction": "Name a bird that cannot fly."}\n\n{"instruction": "Add 2 and 3.", "input": "x"}\n'
    )
    tasks = load_seed_tasks(good)
    assert [t.text for t in tasks] == ["Name a bird that cannot fly.", "Add 2 and 3.\n\nx"]
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"instruction": "ok one here"}\n{"text": "no instruction key"}\n')
    with pytest.raises(ConfigError, match=r"bad.jsonl:2"):
        load_seed_tasks(bad)
