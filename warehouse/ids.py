"""Stable names for inputs: the hash of a config model, and the fingerprint of what a shard was made from.

Both live at the bottom of the layers: run manifests name a run by its config hash, and every stage
names a shard's inputs by a fingerprint, so a changed input or config redoes that shard and nothing else.
"""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel


def stable_hash(model: BaseModel) -> str:
    """Short sha256 of a config model's canonical JSON (secrets excluded): names a stage's inputs."""
    data = model.model_dump(mode="json")
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()[:12]


def fingerprint(*parts: object) -> str:
    """Short sha256 of the parts, one per line: what a shard's content depends on."""
    return hashlib.sha256("\n".join(map(str, parts)).encode()).hexdigest()[:16]
