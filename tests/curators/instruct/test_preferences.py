"""Pairing ratings into preference pairs: chosen, rejected, ties and margins, every instruction a row."""

from __future__ import annotations

from curators.instruct.config import PreferencesConfig
from curators.instruct.preferences import pair_up


def ratings(**by_instruction: list[float]) -> list[dict]:
    return [
        {"instruction_id": i, "response_id": f"{i}-r{k}", "overall": v}
        for i, values in by_instruction.items()
        for k, v in enumerate(values)
    ]


def test_chosen_is_the_best_rejected_the_lowest_and_the_margin_is_kept() -> None:
    rows = pair_up(ratings(a=[3.0, 4.5, 2.0, 4.0]), PreferencesConfig(), "judge", "run")
    (row,) = rows
    assert (row["chosen_id"], row["rejected_id"], row["margin"], row["status"]) == ("a-r1", "a-r2", 2.5, "candidate")
    assert row["responses_rated"] == 4 and row["judge"] == "judge"


def test_ties_and_single_ratings_are_rows_with_reasons_never_dropped() -> None:
    rows = {
        r["instruction_id"]: r
        for r in pair_up(ratings(t=[3.0, 3.25, 3.0], s=[4.0], p=[5.0, 1.0]), PreferencesConfig(), "j", "run")
    }
    assert set(rows) == {"t", "s", "p"}
    assert rows["t"]["status"] == "tie" and "0.25" in rows["t"]["reason"] and rows["t"]["chosen_id"] is None
    assert rows["s"]["status"] == "too_few_ratings"
    assert rows["p"]["status"] == "candidate"


def test_a_random_rejected_is_one_rated_lower_and_reproducible() -> None:
    config = PreferencesConfig(rejected="random", seed=7)
    data = ratings(**{f"i{n}": [5.0, 4.0, 3.0, 2.0, 1.0] for n in range(40)})
    first = pair_up(data, config, "j", "run")
    assert first == pair_up(data, config, "j", "run")
    picked = {r["rejected_id"].rsplit("-", 1)[1] for r in first}
    assert len(picked) > 1 and "r0" not in picked  # spread over the lower ones, never the chosen


def test_without_confirmation_a_pair_is_ok_at_once_and_ids_are_stable() -> None:
    rows = pair_up(ratings(a=[5.0, 1.0]), PreferencesConfig(confirm=False), "j", "run1")
    again = pair_up(ratings(a=[5.0, 1.0]), PreferencesConfig(confirm=False), "j", "run2")
    assert rows[0]["status"] == "ok" and rows[0]["pair_id"] == again[0]["pair_id"]
