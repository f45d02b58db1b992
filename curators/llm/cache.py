"""The persistent LLM response cache: append-only JSON Lines journals under `<root>/llm_cache/`.

Every answer that was paid for (a valid one, or one that stayed invalid after re-asks) is appended
and flushed the moment it arrives, so a killed stage loses none. Keys are sha256(model, messages,
params, sample index). A torn last line of a killed writer is skipped and counted. DuckDB reads the
journals directly (the `llm_responses` view).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

CACHE_DIR = "llm_cache"


def cache_key(model: str, messages: list[dict[str, Any]], params: dict[str, Any], sample: int = 0) -> str:
    payload = {"model": model, "messages": messages, "params": params, "sample": sample}
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    """Key -> entry (a JSON-able dict). Loads every journal of the folder; appends to its own."""

    def __init__(self, root: Path | None) -> None:
        self.folder = Path(root) / CACHE_DIR if root is not None else None
        self.entries: dict[str, dict[str, Any]] = {}
        self.torn_lines = 0
        self._file = None
        self._lock = threading.Lock()
        if self.folder is not None and self.folder.is_dir():
            for journal in sorted(self.folder.glob("*.jsonl")):
                with open(journal, "rb") as fh:
                    for line in fh:
                        try:
                            entry = json.loads(line)
                            self.entries[entry["key"]] = entry
                        except (ValueError, KeyError, TypeError):
                            self.torn_lines += 1

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> dict[str, Any] | None:
        return self.entries.get(key)

    def put(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.entries[entry["key"]] = entry
            if self.folder is None:
                return
            if self._file is None:
                self.folder.mkdir(parents=True, exist_ok=True)
                name = f"responses-{datetime.now(UTC):%Y%m%dT%H%M%S}-{os.getpid()}-{id(self):x}.jsonl"
                self._file = open(self.folder / name, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            self._file.write(json.dumps(entry) + "\n")
            self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None
