"""Decontamination against the real benchmark sets (the wheels of `make benchsets`), planted in real prose."""

from __future__ import annotations

import json
import logging
import random
import re
from pathlib import Path

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curators.decontam.benchsets import (
    BENCHMARKS,
    BenchItem,
    available_benchmarks,
    benchsets_dir,
    load_benchmarks,
    read_benchmark_jsonl,
)
from curators.decontam.index import (
    ContaminationIndex,
    DecontamConfig,
    build_index,
    contamination_rows,
    normalize_words,
    removals_table,
)
from curators.errors import CurateError
from curators.ingest.plan import stdlib_dir
from tests.realtext import EXPLAINED_MODULES, docstrings
from warehouse.schemas import CONTAMINATION

PER_BENCHMARK = 12
EXPECTED_SIZES = {
    "humaneval": 164,
    "gsm8k": 1319,
    "mbpp": 500,
    "arc_easy": 2946,
    "arc_challenge": 1471,
    "hellaswag": 10042,
    "mmlu": 15858,
    "math": 5000,
    "piqa": 1838,
    "siqa": 1954,
    "winogrande": 1267,
    "openbookqa": 1000,
    "commonsense_qa": 1221,
    "sciq": 1000,
    "boolq": 3270,
    "drop": 1000,
    "squad": 1000,
    "jeopardy": 2116,
    "lambada": 5153,
    "nq_open": 3610,
}


@pytest.fixture(scope="module")
def items() -> list[BenchItem]:
    return load_benchmarks()


@pytest.fixture(scope="module")
def index(items: list[BenchItem]) -> ContaminationIndex:
    return ContaminationIndex.build(items, DecontamConfig())


@pytest.fixture(scope="module")
def difflib_index(items: list[BenchItem]) -> ContaminationIndex:
    return ContaminationIndex.build(items, DecontamConfig(method="ngram+difflib"))


@pytest.fixture(scope="module")
def filler() -> list[str]:
    """Paragraphs of explanatory prose: the docstrings of standard-library modules."""
    paragraphs = []
    for name in EXPLAINED_MODULES:
        text = docstrings(stdlib_dir() / f"{name}.py")
        paragraphs.extend(p.strip() for p in text.split("\n\n") if len(p.strip()) >= 200)
    assert len(paragraphs) >= 60
    return paragraphs


@pytest.fixture(scope="module")
def planted(items: list[BenchItem]) -> list[BenchItem]:
    """PER_BENCHMARK items of every benchmark, seeded; items under `min_item_words` words are not indexed."""
    rng = random.Random(1234)
    chosen = []
    for name in BENCHMARKS:
        pool = [it for it in items if it.benchmark == name and len(normalize_words(it.text)) >= 8]
        chosen.extend(rng.sample(pool, PER_BENCHMARK))
    return chosen


def light_edit(text: str, rng: random.Random, ngram: int = 13) -> str:
    """A few words changed, inserted or deleted, `ngram` + 1 words apart (so one n-gram survives), then case
    and punctuation changed. An item of `ngram` words or fewer gets case and punctuation changes only."""
    words = list(re.finditer(r"\w+", text))
    edits = list(range(ngram, len(words), ngram + 1))[:3]
    for k, position in reversed(list(enumerate(edits))):
        word = words[position]
        kind = k % 3
        if kind == 0:  # substitute
            text = text[: word.start()] + rng.choice(["really", "surely", "perhaps"]) + text[word.end() :]
        elif kind == 1:  # insert before
            text = text[: word.start()] + "quite " + text[word.start() :]
        else:  # delete
            text = text[: word.start()] + text[word.end() :]
    parts = re.split(r"(\w+)", text)
    parts = [p.upper() if i % 10 == 5 else p for i, p in enumerate(parts)]  # every fifth word upper-cased
    text = "".join(parts).replace(".", " ;").replace("?", "!").replace(",", " - ")
    return text[0].lower() + text[1:] if text else text


def generation(filler: list[str], rng: random.Random, *plants: str) -> str:
    """A textbook-like text: prose paragraphs around each planted item."""
    parts = [rng.choice(filler)]
    for plant in plants:
        parts.extend([plant, rng.choice(filler)])
    return "\n\n".join(parts)


def found(matches: list, item: BenchItem) -> bool:
    return any(m.benchmark == item.benchmark and m.item_id == item.item_id for m in matches)


def test_every_benchmark_is_read_from_the_wheels(items: list[BenchItem]) -> None:
    assert available_benchmarks() == list(BENCHMARKS)
    sizes = {name: len({it.item_id for it in items if it.benchmark == name}) for name in BENCHMARKS}
    assert sizes == EXPECTED_SIZES
    assert ContaminationIndex.build(items[:0], DecontamConfig()).sizes() == {}
    variants = [(it.benchmark, it.item_id) for it in items]
    assert len(variants) == sum(EXPECTED_SIZES.values()) + 2 * EXPECTED_SIZES["winogrande"]  # 3 variants each
    by_id = {(it.benchmark, it.item_id): it.text for it in items}
    assert by_id[("humaneval", "HumanEval/0")].startswith("from typing import List")
    assert "<<" not in by_id[("gsm8k", "0")] and by_id[("gsm8k", "0")].startswith("Janet")
    assert "def remove_Occ" in by_id[("mbpp", "11")]
    assert "[header]" not in "".join(it.text for it in items if it.benchmark == "hellaswag")
    # The text fields of the README's table, spot-checked on a known item of each newer set.
    assert (
        by_id[("math", "algebra/0")].startswith("How many vertical asymptotes")
        and "boxed{2}" in by_id[("math", "algebra/0")]
    )
    assert [it.text for it in items if it.benchmark == "winogrande" and it.item_id == "0"] == [
        "Sarah was a much better surgeon than Maria so _ always got the easier cases.",
        "Sarah was a much better surgeon than Maria so Sarah always got the easier cases.",
        "Sarah was a much better surgeon than Maria so Maria always got the easier cases.",
    ]
    assert by_id[("openbookqa", "8-376")].splitlines()[1:] == [
        "Deep sea animals",
        "fish",
        "Long Sea Fish",
        "Far Sea Animals",
    ]
    assert ("openbookqa", "8-343") in by_id  # the test split, from oe_eval
    squad = by_id[("squad", "5727dd2e4b864d1900163eba")]
    assert squad.startswith("Older than The Game by 23 years") and squad.endswith("by how many years?\n23 years")
    assert "Background:" not in squad and "Title:" not in squad
    assert by_id[("jeopardy", "0")] == (
        "At sea level at 70 degrees this travels 1,129 feet per second; it speeds up over 1 foot per sec. "
        "for each rising degree\nsound"
    )
    assert by_id[("lambada", "0")].endswith("I don't care about signs")
    assert by_id[("nq_open", "0")] == "when was the last time anyone was on the moon\n14 December 1972 UTC"
    assert by_id[("drop", "50ad1ec3-d7b5-4ffc-82db-af0e31f4bdf7")].endswith("swedish or united states?\nswedish")


@pytest.mark.parametrize("benchmark", BENCHMARKS)
def test_planted_items_are_all_found_verbatim_and_lightly_edited(
    benchmark: str, index: ContaminationIndex, planted: list[BenchItem], filler: list[str]
) -> None:
    rng = random.Random(7)
    misses = []
    mine = [item for item in planted if item.benchmark == benchmark]
    assert len(mine) == PER_BENCHMARK
    for item in mine:
        edited = light_edit(item.text, rng)
        assert edited != item.text
        for kind, plant in (("verbatim", item.text), ("edited", edited)):
            matches = index.find(generation(filler, rng, plant))
            if not found(matches, item):
                misses.append((kind, item.benchmark, item.item_id))
            elif kind == "verbatim":
                match = next(m for m in matches if m.item_id == item.item_id and m.benchmark == item.benchmark)
                assert match.ngram_overlap == 1.0 and match.method == "ngram" and match.difflib_ratio is None
                assert match.matched and set(match.matched.split()) <= set(normalize_words(item.text))
    assert misses == [], f"{len(misses)} of {2 * len(mine)} planted items missed"


def test_several_items_in_one_generation_are_all_found(
    index: ContaminationIndex, planted: list[BenchItem], filler: list[str]
) -> None:
    rng = random.Random(11)
    three = planted[:: len(planted) // 3][:3]
    matches = index.find(generation(filler, rng, *(it.text for it in three)))
    assert all(found(matches, it) for it in three)


def test_clean_prose_matches_nothing(
    index: ContaminationIndex, difflib_index: ContaminationIndex, filler: list[str]
) -> None:
    assert [m for text in filler for m in index.find(text)] == []
    assert [m for text in filler for m in difflib_index.find(text)] == []


def test_ngram_plus_difflib_flags_copies_and_rejects_a_single_shared_10gram(
    difflib_index: ContaminationIndex, items: list[BenchItem], planted: list[BenchItem], filler: list[str]
) -> None:
    assert difflib_index.config.ngram == 10
    rng = random.Random(3)
    for item in planted[::6]:
        for plant in (item.text, light_edit(item.text, rng, ngram=10)):
            matches = [m for m in difflib_index.find(generation(filler, rng, plant)) if m.item_id == item.item_id]
            assert matches and matches[0].method == "ngram+difflib" and matches[0].difflib_ratio > 0.5, item
    # Ten consecutive words of a GSM8K item, amid prose: a shared 10-gram, yet no copy of the item.
    item = next(it for it in items if it.benchmark == "gsm8k" and len(normalize_words(it.text)) >= 80)
    words = list(re.finditer(r"\w+", item.text))
    fragment = item.text[words[30].start() : words[39].end()]
    text = generation(filler, rng, f"As the example puts it, {fragment}, which we come back to later.")
    assert found(ContaminationIndex.build([item], DecontamConfig(ngram=10)).find(text), item)
    assert not found(difflib_index.find(text), item)


def test_user_jsonl_with_a_malformed_line(tmp_path: Path, filler: list[str], caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "private_eval.jsonl"
    good_text = (
        "The quarterly inventory of the western warehouse counted four hundred and twelve crates of tinned peaches"
    )
    lines = [
        json.dumps({"id": "q-1", "text": good_text}),
        json.dumps(
            {
                "question": "A train leaves the depot at nine and travels sixty miles each hour.",
                "answer": "It arrives at the coast three hours later, after one hundred and eighty miles.",
            }
        ),
        '{"id": "q-3", "text": "cut off',
        json.dumps({"id": "q-4", "title": "no text field"}),
        json.dumps({"id": "q-1", "text": "a duplicate id"}),
        "",
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    bench = read_benchmark_jsonl(path)
    assert [(it.benchmark, it.item_id) for it in bench.items] == [("private_eval", "q-1"), ("private_eval", "2")]
    assert bench.bad_lines == 3
    assert bench.errors[0].startswith("line 3: not valid JSON")
    with caplog.at_level(logging.WARNING):
        index = build_index(DecontamConfig(benchmarks=[], extra_jsonl=[path]))
    assert "3 malformed line(s)" in caplog.text
    rng = random.Random(5)
    for item in bench.items:
        assert found(index.find(generation(filler, rng, light_edit(item.text, rng))), item)


def test_missing_benchmark_sets_say_how_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CurateError) as raised:
        load_benchmarks(wheel_dir=tmp_path / "nowhere")
    assert "make setup" in (raised.value.hint or "")
    with pytest.raises(CurateError, match="'gsm8k' is not installed") as raised:
        load_benchmarks(["gsm8k"], wheel_dir=tmp_path)
    assert "make benchsets" in (raised.value.hint or "")
    monkeypatch.setenv("CURATE_BENCHSETS", str(tmp_path))
    assert benchsets_dir() == tmp_path and available_benchmarks() == []
    with pytest.raises(ValidationError, match="unknown benchmark"):
        DecontamConfig(benchmarks=["gsm9k"])


def test_rows_fit_the_contamination_table_and_the_removals_table_counts(
    index: ContaminationIndex, planted: list[BenchItem], filler: list[str]
) -> None:
    rng = random.Random(9)
    rows = []
    for number, item in enumerate(planted[:: PER_BENCHMARK // 2]):
        rows += contamination_rows(
            f"gen-{number}", "generations", index.find(generation(filler, rng, item.text)), "run-1"
        )
    rows += contamination_rows(
        "gen-extra", "generations", index.find(generation(filler, rng, planted[0].text)), "run-1"
    )
    table = pa.Table.from_pylist(rows, schema=CONTAMINATION)
    assert table.num_rows == len(rows) >= 2 * len(BENCHMARKS) + 1
    removals = {r["benchmark"]: r for r in removals_table(rows, index.sizes())}
    assert set(removals) == set(BENCHMARKS)
    first = removals[planted[0].benchmark]
    assert first["flagged"] == 3 and first["benchmark_items"] == EXPECTED_SIZES[planted[0].benchmark]
    assert all(r["flagged"] >= 2 and r["items_matched"] >= 2 for r in removals.values())


def test_runs_of_numbers_are_not_evidence(index: ContaminationIndex) -> None:
    """Counting, primes and tables of numbers are in real code and in MATH's solutions alike: an n-gram of
    numbers only is not indexed (these stdlib files matched MATH items before the rule)."""
    assert index.stats.numeric_ngrams > 0
    runs = "primes = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43]\nones = [1] * 20  # " + "1 " * 20
    assert index.find(runs + "\nprint(list(range(1, 14)))  # 1 2 3 4 5 6 7 8 9 10 11 12 13") == []
    for name in ("doctest.py", "heapq.py"):
        assert index.find((stdlib_dir() / name).read_text(encoding="utf-8")) == [], name
