"""How the cluster step cuts candidate pairs into verification blocks."""

from __future__ import annotations

import pytest

from curators.dedup.store import MIN_VERIFY_BLOCK_PAIRS, verify_block_size


@pytest.mark.parametrize(
    ("pairs", "max_pairs", "blocks", "size"),
    [
        (100_000, 20_000, 1, 20_000),  # the configured block size, one process
        (100_000, 20_000, 8, 12_500),  # eight at once
        (30_000, 20_000, 2, 15_000),  # two blocks, not 20,000 + 10,000
        (5_001, 20_000, 2, 2_501),  # small: cut in two while each block keeps MIN_VERIFY_BLOCK_PAIRS
        (2_400, 20_000, 2, MIN_VERIFY_BLOCK_PAIRS),  # not below the minimum
        (100, 20_000, 4, MIN_VERIFY_BLOCK_PAIRS),  # one block
        (10, 2, 4, 2),  # never over the configured size
        (0, 20_000, 2, MIN_VERIFY_BLOCK_PAIRS),
    ],
)
def test_verify_block_size(pairs: int, max_pairs: int, blocks: int, size: int) -> None:
    assert verify_block_size(pairs, max_pairs, blocks) == size
