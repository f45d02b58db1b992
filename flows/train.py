"""Train flow: labels -> embeddings -> random forest, saved and registered in `filters`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow

from curators.filter.config import EmbedConfig, FilterConfig
from curators.filter.store import train_and_register
from warehouse.runs import open_run


@flow(name="train")
def train_flow(data_root: str, config: FilterConfig, embed: EmbedConfig, wait: float | None = None) -> dict[str, Any]:
    """Train the educational-value filter on the warehouse's ok labels."""
    root = Path(data_root).resolve()
    with open_run(root, "train", config, fresh=True, wait=wait) as run:
        card = train_and_register(root, run.run_id, config, embed)
        run.counts = {"n_labels": card["n_labels"], "f1": card["metrics"]["filter"]["f1"]}
    return card
