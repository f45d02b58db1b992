from __future__ import annotations

from collections import Counter
from pathlib import Path

from curators.filter.sampling import _quotas, choose
from tests.realtext import build_labelled_warehouse


def test_quotas_are_proportional_capped_and_complete() -> None:
    assert _quotas({"a": 900, "b": 100}, 10) == {"a": 9, "b": 1}
    assert _quotas({"a": 3, "b": 100}, 50) == {"a": 1, "b": 49}  # largest remainders: 1.46 and 48.54
    assert _quotas({"a": 3, "b": 5}, 50) == {"a": 3, "b": 5}  # a budget larger than the corpus
    assert sum(_quotas({"a": 7, "b": 11, "c": 13}, 10).values()) == 10


def test_diverse_sampling_spreads_over_the_kinds_of_documents(tmp_path: Path, data_root: Path) -> None:
    docs = build_labelled_warehouse(data_root, tmp_path)
    kinds = {n: n.split(":")[0] for n, _, _ in docs}  # doc | table | licence
    from warehouse.catalog import query

    locator = dict(query(data_root, "SELECT id, locator FROM docs")[1])
    for seed in range(3):
        chosen = choose(data_root, 6, "diverse", seed)
        assert len(chosen) == len({c.id for c in chosen}) == 6
        assert Counter(c.reason for c in chosen) == {"centroid": 4, "random-fill": 2}
        covered = {kinds[locator[c.id]] for c in chosen}
        assert covered == {"doc", "table", "licence"}, (seed, covered)
    assert [c.id for c in choose(data_root, 6, "diverse", 1)] == [c.id for c in choose(data_root, 6, "diverse", 1)]
