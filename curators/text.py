"""Text identity: stable document ids and hashes of normalised text.

`doc_id` names a document by where it came from (source + locator), so re-ingesting the same input
gives the same id. `text_hash` names it by what it says, after a light normalisation (Unicode NFC,
lower case, whitespace collapsed), so exact duplicates share a hash whatever their source.
"""

from __future__ import annotations

import hashlib
import unicodedata


def doc_id(source: str, locator: str) -> str:
    """Stable id of a document: sha256 of its source and its locator within that source."""
    return hashlib.sha256(f"{source}\x00{locator}".encode()).hexdigest()


def normalize_text(text: str) -> str:
    """The normalisation behind `text_hash`: NFC, lower case, runs of whitespace to one space."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def text_hash(text: str) -> str:
    """sha256 (hex) of the normalised text."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()
