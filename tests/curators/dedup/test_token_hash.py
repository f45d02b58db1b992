"""The token hash of dedup (curators/dedup/token_hash.py): the vectorised hash is the reference one."""

from __future__ import annotations

import random

import numpy as np

from curators.dedup.token_hash import hash_tokens, token_hash


def random_tokens(rng: random.Random, n: int) -> list[bytes]:
    """Tokens of every length around the word boundaries and the long-token cut, ASCII and not (no b" ")."""
    lengths = [1, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 128, 129, 130, 500, 5000]
    alphabet = [b for b in range(256) if b != 32]
    tokens = []
    for _ in range(n):
        size = rng.choice(lengths) if rng.random() < 0.5 else rng.randint(1, 40)
        tokens.append(bytes(rng.choice(alphabet) for _ in range(size)))
    tokens += ["é".encode() * 70, "中".encode(), b"\x00", b"\xff" * 8]
    return tokens


def test_vectorised_token_hashes_are_the_reference_hash() -> None:
    rng = random.Random(7)
    tokens = random_tokens(rng, 600)
    separators = [b" " * rng.randint(1, 3) for _ in tokens]
    data = b"  " + b"".join(t + sep for t, sep in zip(tokens, separators, strict=True))
    hashes, starts = hash_tokens(data)
    assert hashes.dtype == np.uint64
    assert [int(h) for h in hashes] == [token_hash(t) for t in tokens]
    assert [data[s : s + len(t)] for s, t in zip(starts.tolist(), tokens, strict=True)] == tokens
    assert len(set(hashes.tolist())) == len(set(tokens))  # no collision among these
    assert hash_tokens(b"")[0].size == 0 and hash_tokens(b"   ")[0].size == 0
