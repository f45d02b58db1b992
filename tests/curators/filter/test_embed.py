"""The packaged embedding model loads offline and quietly (no third-party progress bars in our output)."""

from __future__ import annotations

import numpy as np
import pytest

from curators.filter.embed import DEFAULT_EMBEDDER, Embedder


def test_the_packaged_model_loads_quietly_and_embeds(capfd: pytest.CaptureFixture[str]) -> None:
    embedder = Embedder(DEFAULT_EMBEDDER, max_seq_length=128)
    vectors = embedder.encode(["A heap is a binary tree.", "A heap is a binary tree.", "Invoice total: 12 EUR"])
    captured = capfd.readouterr()
    assert "Loading weights" not in captured.err + captured.out
    assert vectors.shape == (3, embedder.dim) and embedder.dim == 384
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(vectors[0] @ vectors[1]) > 0.99 > float(vectors[0] @ vectors[2])
