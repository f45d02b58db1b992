"""The benchmark index, built once and kept on disk: reading the sets and hashing their ~3.5 million n-grams takes
~10 s, which every `curate decontam` and every worker process would otherwise pay again.

- Where: `$CURATE_DECONTAM_INDEX_CACHE`, else `$XDG_CACHE_HOME/curators/decontam-index` (`~/.cache/...`). The
  index depends on the benchmark sets and the code, not on a warehouse, so one copy serves every data root.
- Key: sha256 of what the build reads: the index and set-reader code (their source files), the build settings
  (`ngram`, `min_item_words`, `max_items_per_ngram`), the benchmarks named (or installed, when none are), each
  benchmark wheel's name, size and modification time, and each user JSONL file's contents. Anything else
  (`method`, thresholds) only changes matching, so those configs share an index.
- A folder is written under a temporary name and renamed: a reader sees a whole index or none; two builders at
  once both build, one rename wins. The `KEEP` most recently used indexes are kept, older ones removed.
- A folder that cannot be read is built again (and said in the log), never an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
import uuid
from pathlib import Path

from curators.decontam import benchsets, index
from curators.decontam.benchsets import available_benchmarks, benchsets_dir
from curators.decontam.config import DecontamConfig
from curators.decontam.index import ContaminationIndex, build_index
from curators.settings import user_cache_dir

log = logging.getLogger(__name__)

CACHE_ENV = "CURATE_DECONTAM_INDEX_CACHE"
KEEP = 4  # indexes kept (~60-100 MB each with every set installed)


def cache_root() -> Path:
    return user_cache_dir("decontam-index", CACHE_ENV)


def _file_digest(path: Path) -> str:
    with open(path, "rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def index_key(config: DecontamConfig, wheel_dir: Path | None = None) -> str:
    """The key of the index `config` builds (see the module docstring for what it covers)."""
    folder = wheel_dir if wheel_dir is not None else benchsets_dir()
    wheels = []
    for path in sorted(folder.glob("*.whl")) if folder.is_dir() else []:
        stat = path.stat()
        wheels.append([path.name, stat.st_size, stat.st_mtime_ns])
    parts = {
        "code": [_file_digest(Path(module.__file__)) for module in (index, benchsets)],
        "ngram": config.ngram,
        "min_item_words": config.min_item_words,
        "max_items_per_ngram": config.max_items_per_ngram,
        "benchmarks": config.benchmarks if config.benchmarks is not None else available_benchmarks(folder),
        "wheels": wheels,
        "extra_jsonl": [[str(p), _file_digest(Path(p))] for p in config.extra_jsonl],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def stored_index(config: DecontamConfig, wheel_dir: Path | None = None) -> ContaminationIndex:
    """The index of `config`: read from the cache when it is there, else built and stored."""
    try:
        key = index_key(config, wheel_dir)
    except OSError:  # a JSONL file missing or unreadable: the set readers say so, clearly
        return build_index(config, wheel_dir)
    root = cache_root()
    folder = root / key
    if folder.is_dir():
        try:
            loaded = ContaminationIndex.load(folder, config)
            os.utime(folder)  # most recently used
            return loaded
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("the stored benchmark index %s could not be read (%s): building it again", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
    built = build_index(config, wheel_dir)
    _store(built, root, folder)
    return built


def _store(built: ContaminationIndex, root: Path, folder: Path) -> None:
    temp = root / f".{folder.name}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        built.save(temp)
        os.replace(temp, folder)
    except OSError as exc:  # a full disk or an unwritable cache costs the next command a build, nothing else
        if not folder.is_dir():
            log.warning("the benchmark index could not be stored in %s (%s)", root, exc)
    finally:
        shutil.rmtree(temp, ignore_errors=True)
    _prune(root, keep=folder)


def _prune(root: Path, keep: Path) -> None:
    """Remove all but the KEEP most recently used indexes, and temporary folders over a day old."""
    now = time.time()
    try:
        entries = [(p, p.stat().st_mtime) for p in root.iterdir() if p.is_dir()]
    except OSError:  # gone, or another process pruning at the same time: the next store prunes
        return
    stale = [p for p, mtime in entries if p.name.endswith(".tmp") and now - mtime > 86400]
    indexes = [p for p, _ in sorted((e for e in entries if not e[0].name.startswith(".")), key=lambda e: e[1])]
    for path in stale + [p for p in indexes[:-KEEP] if p != keep]:
        shutil.rmtree(path, ignore_errors=True)
