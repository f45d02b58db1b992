"""Has anything changed since a stage last finished? A fingerprint of the data root, and the record of each
stage's last finished run, so that a command with nothing to do answers at once (like `make`), without
starting Prefect or reading a shard.

The fingerprint hashes the path, size, modification time and inode of every file under the data root
(shards, markers, models), except what never changes a result: Prefect's home, temporary files, the lock,
the DuckDB catalog (views, rebuilt from the shards) and this record itself. Any write by any command changes
it, so a stage is "up to date" only when nothing at all was written since it finished: conservative by
design (a false "changed" costs one ordinary run, which is itself incremental; a false "up to date" would
lose work, and cannot happen while writers hold the lock, see `remember`).
"""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from warehouse.shards import write_bytes_atomic

RECORD = Path(".curate") / "finished.json"
NOT_STATE = {".prefect", ".curate", "tmp", ".curate.lock", "warehouse.duckdb", "warehouse.duckdb.wal"}
KEEP = 64  # stage keys remembered; the oldest are forgotten


def fingerprint(root: Path, extra_files: list[str] | None = None) -> str:
    """sha256 over (path, size, mtime, inode) of every file of the data root that holds state, and of
    `extra_files` (e.g. the input files of an ingest); a missing extra file counts as its absence."""
    root = Path(root).resolve()
    digest = hashlib.sha256()
    entries: list[str] = []
    for folder, dirs, files in os.walk(root):
        rel = os.path.relpath(folder, root)
        if rel == ".":
            dirs[:] = [d for d in dirs if d not in NOT_STATE]
            files = [f for f in files if f not in NOT_STATE]
        dirs.sort()
        for name in files:
            if name.endswith(".tmp"):
                continue
            entries.append(_entry(os.path.join(folder, name), os.path.join(rel, name)))
    for path in sorted(extra_files or []):
        entries.append("input:" + _entry(path, path))
    for entry in sorted(entries):
        digest.update(entry.encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()


def _entry(path: str, name: str) -> str:
    try:
        st = os.stat(path)
    except OSError:
        return f"{name}\tmissing"
    return f"{name}\t{st.st_size}\t{st.st_mtime_ns}\t{st.st_ino}"


def stage_key(stage: str, *parts: Any) -> str:
    """A stable key for a stage and everything that decides its result (config models, targets, versions)."""

    def plain(value: Any) -> Any:
        dump = getattr(value, "model_dump", None)
        return dump(mode="json") if dump else value

    blob = json.dumps([stage, *(plain(p) for p in parts)], sort_keys=True, default=str)
    return f"{stage}:{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def _read(root: Path) -> dict[str, Any]:
    try:
        record = json.loads((Path(root) / RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def recall(root: Path, key: str, extra_files: list[str] | None = None) -> dict[str, Any] | None:
    """The record of `key`'s last finished run ({"summary", "finished_at", ...}) when nothing changed since;
    None when it never finished or anything changed. Call it holding the writer lock."""
    entry = _read(root).get(key)
    if not isinstance(entry, dict) or entry.get("fingerprint") != fingerprint(root, extra_files):
        return None
    return entry


def remember(root: Path, key: str, summary: dict[str, Any], extra_files: list[str] | None = None) -> None:
    """Record that `key` finished with `summary` on the data root as it is now. Call it holding the writer
    lock, right after the run: no other writer can have written in between, so the fingerprint is exactly
    the state this run left."""
    record = _read(root)
    record.pop(key, None)
    record[key] = {
        "fingerprint": fingerprint(root, extra_files),
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "summary": summary,
    }
    for old in list(record)[: max(0, len(record) - KEEP)]:
        del record[old]
    write_bytes_atomic(Path(root) / RECORD, json.dumps(record, indent=1, default=str).encode())
