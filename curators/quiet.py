"""Third-party noise off where our own progress bars already say what happens: transformers' "Loading
weights" bars when the embedder or a tokenizer loads. Its warnings and errors still print."""

from __future__ import annotations


def quiet_transformers() -> None:
    """No progress bars from transformers in this process (idempotent; no effect when it is not installed)."""
    try:
        from transformers.utils import logging as transformers_logging
    except ImportError:
        return
    transformers_logging.disable_progress_bar()
