"""Arrow arrays and tables built from buffers equal what pyarrow's own conversion builds, on hostile values."""

from __future__ import annotations

import pyarrow as pa
import pytest

from tests.fresh_process import imports_pandas
from warehouse.arrays import bool_array, int_array, number_array, string_array, table_from_rows
from warehouse.schemas import DUPS, LABELS

STRINGS = [
    [],
    ["plain", "", "ascii only"],
    ["café", "naïve", "", "日本語のテキスト", "emoji 🦜 here", "a\x00b", "tab\tand\nnewline"],
    [None, "x", None, "ü", ""],
    [None, None],
    ["only one"],
]


@pytest.mark.parametrize("values", STRINGS)
@pytest.mark.parametrize("large", [False, True])
def test_string_array_equals_pyarrows(values: list[str | None], large: bool) -> None:
    kind = pa.large_string() if large else pa.string()
    built = string_array(values, large=large)
    assert built.type == kind
    assert built.equals(pa.array(values, kind))
    built.validate(full=True)


@pytest.mark.parametrize("values", [[], [0, -1, 2**63 - 1, -(2**63)], [None, 3, None], [None]])
def test_int_array_equals_pyarrows(values: list[int | None]) -> None:
    built = int_array(values)
    assert built.equals(pa.array(values, pa.int64()))
    built.validate(full=True)


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        ([0.1, 1 / 3, 1e-45, None, 3.4e38, -0.0], pa.float32()),
        ([0.1, 1 / 3, float("inf"), None, 5], pa.float64()),
        ([0, 5, -128, 127, None], pa.int8()),
        ([0, 2**64 - 1], pa.uint64()),
    ],
)
def test_number_array_equals_pyarrows(values: list, kind: pa.DataType) -> None:
    assert number_array(values, kind).equals(pa.array(values, kind))


def test_an_integer_out_of_range_is_an_error_as_in_pyarrow() -> None:
    with pytest.raises((OverflowError, pa.ArrowInvalid)):
        pa.array([300], pa.int8())
    with pytest.raises(OverflowError):
        number_array([300], pa.int8())


def test_table_from_rows_equals_from_pylist() -> None:
    dups = [
        {
            "id": "b",
            "method": "exact",
            "cluster_id": "a",
            "dup_of": "a",
            "similarity": 1.0,
            "matched_with": "a",
            "cluster_size": 2,
            "cluster_kept": 1,
            "target": "docs",
            "run_id": "r",
        },
        {
            "id": "ç",
            "method": "minhash",
            "cluster_id": "a",
            "dup_of": "a",
            "similarity": 0.8125,
            "matched_with": None,
            "cluster_size": 3,
            "cluster_kept": None,
            "target": "docs",
            "run_id": "r",
        },
        {"id": "d", "method": "semantic", "cluster_id": "a", "dup_of": "a", "target": "docs", "run_id": "r"},
    ]  # fmt: skip  (the last row lacks keys: nulls, as in from_pylist)
    assert table_from_rows(dups, DUPS).equals(pa.Table.from_pylist(dups, schema=DUPS))
    assert table_from_rows([], DUPS).equals(pa.Table.from_pylist([], schema=DUPS))
    # Types it does not build itself (bools, timestamps, lists...) and a float in an integer column go through
    # pyarrow: the same values as before.
    labels = [{"id": "x", "prompt_id": "p", "model": "m", "score": 3, "status": "ok", "truncated": True}]
    for rows in (labels, [{**labels[0], "score": 2.5}], [{**labels[0], "score": None, "truncated": None}]):
        assert table_from_rows(rows, LABELS).equals(pa.Table.from_pylist(rows, schema=LABELS))


@pytest.mark.parametrize(
    "values", [[], [True], [False, True, None], [True] * 9, [None] * 3, [i % 3 == 0 for i in range(17)] + [None]]
)
def test_bool_array_is_pyarrows(values: list[bool | None]) -> None:
    built = bool_array(values)
    built.validate(full=True)
    assert built.equals(pa.array(values, pa.bool_()))
    assert built.to_pylist() == values


def test_building_a_table_of_strings_and_numbers_does_not_import_pandas() -> None:
    """The point of the module: a command that writes a small table (a dedup's dups) does not import pandas."""
    assert not imports_pandas(
        "from warehouse.arrays import table_from_rows\n"
        "from warehouse.schemas import DUPS\n"
        "row = {'id': 'b', 'method': 'exact', 'cluster_id': 'a', 'dup_of': 'a', 'similarity': 1.0,"
        " 'cluster_size': 2, 'target': 'docs', 'run_id': 'r'}\n"
        "assert table_from_rows([row], DUPS).num_rows == 1"
    )
