"""Planning: expand the configured sources (JSONL, Parquet, CSV, text and code folders, local HF
datasets, the Python standard library) into `InputUnit`s, one task's worth of input each: one tabular
file, or a group of files of a folder source. Files a folder source does not read (other extensions,
FIFOs and devices, a second path to a file already read, a link loop) are counted in `Plan.skipped`
and given to a `not_read` unit of their source, which rejects each with its reason: seen = ingested +
rejected holds for every file of a folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sysconfig
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import BaseModel

from curators.errors import SourceError
from curators.ingest.config import IngestConfig, SourceSpec
from curators.ingest.ranges import is_json_lines, line_ranges

BUILTIN_STDLIB = "python-stdlib"

TEXT_EXTENSIONS = (".txt", ".md", ".markdown", ".rst", ".text", ".tex", ".adoc", ".org")
CODE_LANGUAGES: dict[str, str] = {
    ".py": "python",
    ".pyi": "python",
    ".js": "javascript",
    ".mjs": "javascript",
    ".jsx": "javascript",
    ".ts": "typescript",
    ".tsx": "typescript",
    ".java": "java",
    ".c": "c",
    ".h": "c",
    ".cc": "c++",
    ".cpp": "c++",
    ".cxx": "c++",
    ".hpp": "c++",
    ".hh": "c++",
    ".cs": "c#",
    ".go": "go",
    ".rs": "rust",
    ".rb": "ruby",
    ".php": "php",
    ".swift": "swift",
    ".kt": "kotlin",
    ".kts": "kotlin",
    ".scala": "scala",
    ".sh": "shell",
    ".bash": "shell",
    ".zsh": "shell",
    ".lua": "lua",
    ".pl": "perl",
    ".pm": "perl",
    ".r": "r",
    ".jl": "julia",
    ".sql": "sql",
    ".hs": "haskell",
    ".ml": "ocaml",
    ".dart": "dart",
    ".ex": "elixir",
    ".exs": "elixir",
    ".erl": "erlang",
    ".clj": "clojure",
    ".css": "css",
    ".scss": "css",
    ".vue": "vue",
    ".f90": "fortran",
    ".zig": "zig",
    ".nim": "nim",
    ".m": "objective-c",
    ".groovy": "groovy",
    ".ps1": "powershell",
    ".el": "emacs-lisp",
}
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".json")
COMPRESSIONS = (".gz", ".zst")
TABULAR_FORMATS = ("jsonl", "parquet", "csv", "hf")


class InputUnit(BaseModel):
    """One task's worth of input: one tabular file (or a byte range of a large JSON Lines file), or a group of
    files of a folder source."""

    index: int
    source: str
    format: str  # the resolved reader: jsonl | parquet | csv | text | code | hf | not_read
    paths: list[str]
    notes: list[str] = []  # not_read units: why each path is not read
    root: str  # locators are relative to this folder
    spec: SourceSpec
    n_bytes: int = 0
    # A part of a large JSON Lines file: bytes [start, end), starting at a line start; and the lines of the file
    # before it, so that its locators (file:line), and ids, are the ones the whole file gives.
    byte_range: tuple[int, int] | None = None
    first_line: int = 0

    def fingerprint(self) -> str:
        """Changes when any of the unit's files or its reading options change."""
        # What the quality stage does with the documents (profile, languages) is not how they are read: left out,
        # so the hash is the one of a spec without those fields (warehouses ingested before them resume).
        spec = self.spec.model_dump(mode="json", exclude={"profile", "languages"})
        reading = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]
        digest = hashlib.sha256(f"{self.format}\x00{reading}\x00{self.notes}".encode())
        if self.byte_range is not None:  # (a whole file's fingerprint is the one it had before ranges existed)
            digest.update(f"range\x00{self.byte_range[0]}\x00{self.byte_range[1]}\x00{self.first_line}\n".encode())
        for path in self.paths:
            if self.notes:  # a not_read unit: its files are never opened, what they hold does not matter
                digest.update(os.fsencode(path) + b"\n")
                continue
            try:
                st = os.stat(path)
                digest.update(os.fsencode(path) + f"\x00{st.st_size}\x00{st.st_mtime_ns}\n".encode())
            except OSError:
                digest.update(os.fsencode(path) + b"\x00missing\n")
        return digest.hexdigest()[:16]


@dataclass
class Plan:
    units: list[InputUnit]
    skipped: dict[str, int]  # files left out of folder sources, by extension (reported, not silent)

    @property
    def n_bytes(self) -> int:
        return sum(u.n_bytes for u in self.units)


def stdlib_dir() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _strip_compression(name: str) -> str:
    for suffix in COMPRESSIONS:
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def format_of_file(path: Path) -> str | None:
    """The reader for a file by its name, or None when it is not an input we read."""
    name = _strip_compression(path.name.lower())
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    if name.endswith(".arrow"):
        return "hf"
    if path.name.lower() != name:
        return None  # compressed text or code files are not read
    if name.endswith(TEXT_EXTENSIONS):
        return "text"
    if Path(name).suffix in CODE_LANGUAGES:
        return "code"
    return None


NOT_READ_FORMAT = "not_read"  # the unit of a folder source's files it does not read
NOT_REGULAR = "(not a regular file)"
LINK_LOOP = "(folder already read: a link loop or a second link)"
SAME_FILE = "(file already read under another path)"


@dataclass
class _LeftOut:
    """The files of a folder source that it does not read: (path, why), and a count per kind."""

    counts: dict[str, int]
    files: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, path: str, why: str, kind: str | None = None) -> None:
        self.files.append((path, why))
        self.counts[kind or why] = self.counts.get(kind or why, 0) + 1


def _walk(folder: Path, not_read: Callable[[str, str], None] | None = None) -> Iterator[Path]:
    """Files under `folder`, sorted, skipping hidden entries and caches. Symlinked folders are followed,
    but each real folder and each real file is visited once: a link loop (a link to `.` or to a parent),
    or a second path to the same file (a link, a hard link), is given to `not_read(path, why)` instead."""
    not_read = not_read or (lambda path, why: None)

    def identity(path: str) -> tuple[int, int] | None:
        try:
            st = os.stat(path)
        except OSError:
            return None  # a dangling link: yielded, and read as `unreadable`
        return st.st_dev, st.st_ino

    seen: set[tuple[int, int] | None] = {identity(str(folder))}
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=True):
        kept = []
        for name in sorted(dirnames):
            if name.startswith(".") or name == "__pycache__":
                continue
            key = identity(os.path.join(dirpath, name))
            if key in seen:
                not_read(os.path.join(dirpath, name), LINK_LOOP)
                continue
            seen.add(key)
            kept.append(name)
        dirnames[:] = kept
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = os.path.join(dirpath, name)
            key = identity(path)
            if key is not None and key in seen:
                not_read(path, SAME_FILE)
                continue
            seen.add(key)
            yield Path(path)


def _regular_or_dangling(path: Path) -> bool:
    """A regular file (or a link to one), or a dangling link (read as `unreadable`); not a FIFO or device."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except OSError:
        return True


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _hf_data_files(folder: Path) -> list[Path] | None:
    """The Arrow files of a dataset saved with `datasets.save_to_disk`, or None if it is not one."""
    dict_file = folder / "dataset_dict.json"
    if dict_file.is_file():
        try:
            splits = json.loads(dict_file.read_text(encoding="utf-8"))["splits"]
        except (OSError, ValueError, KeyError) as exc:
            raise SourceError(f"{dict_file} is not a valid dataset_dict.json: {exc}") from None
        files: list[Path] = []
        for split in splits:
            files.extend(_hf_data_files(folder / split) or [])
        return files
    state_file = folder / "state.json"
    if state_file.is_file():
        try:
            state = json.loads(state_file.read_text(encoding="utf-8"))
            return [folder / f["filename"] for f in state["_data_files"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise SourceError(f"{state_file} is not a valid datasets state.json: {exc}") from None
    return None


def _has_extension(path: Path, extensions: list[str] | tuple[str, ...]) -> bool:
    return path.name.lower().endswith(tuple(e.lower() for e in extensions))


def _folder_file_format(file: Path, spec: SourceSpec) -> str | None:
    """The reader for a file found in a folder source, or None when the source does not read it."""
    if spec.format in ("text", "code"):
        default = TEXT_EXTENSIONS if spec.format == "text" else tuple(CODE_LANGUAGES)
        return spec.format if _has_extension(file, spec.extensions or default) else None
    fmt = format_of_file(file)
    if spec.format != "auto" and fmt != spec.format:
        return None
    if spec.extensions and not _has_extension(file, spec.extensions):
        return None
    return fmt


def _jsonl_ranges(path: Path, spec: SourceSpec, split_bytes: int, cores: int) -> list[tuple[int, int, int]] | None:
    """The byte ranges a JSON Lines file is read in (see `curators.ingest.ranges`), or None to read it whole: a
    file of at most `split_bytes`, a compressed one, one that may be a single JSON document, or one whose
    records depend on each other (`id_field`: a duplicate id is looked for in the whole file). A multiple of
    `cores` ranges of at most about `split_bytes`: equal shares keep every core busy to the end."""
    size = _size(path)
    if size <= split_bytes or spec.id_field or path.name.lower().endswith(COMPRESSIONS):
        return None
    if not _regular_or_dangling(path) or not is_json_lines(str(path)):
        return None
    parts = -(-size // split_bytes)
    try:
        ranges = line_ranges(str(path), -(-parts // cores) * cores)
    except OSError:
        return None  # read whole: the reader says what is wrong with it
    return ranges if len(ranges) > 1 else None


def plan_units(config: IngestConfig, cores: int = 1) -> Plan:
    """Expand the configured sources into units of work. Raises SourceError for an unusable source. `cores`: the
    units run on this many cores at once (a large JSON Lines file is split in a multiple of it)."""
    units: list[InputUnit] = []
    skipped: dict[str, int] = {}

    def add(spec: SourceSpec, fmt: str, paths: list[Path], root: Path, notes: list[str] | None = None) -> None:
        ranges = _jsonl_ranges(paths[0], spec, config.split_bytes, max(1, cores)) if fmt == "jsonl" else None
        for start, end, lines_before in ranges or [(0, 0, 0)]:
            units.append(
                InputUnit(
                    index=len(units),
                    source=spec.source_name,
                    format=fmt,
                    paths=[str(p) for p in paths],
                    notes=notes or [],
                    root=str(root),
                    spec=spec,
                    n_bytes=end - start if ranges else 0 if notes else sum(_size(p) for p in paths),
                    byte_range=(start, end) if ranges else None,
                    first_line=lines_before,
                )
            )

    def add_grouped(spec: SourceSpec, fmt: str, paths: list[Path], root: Path) -> None:
        step = config.files_per_unit
        for start in range(0, len(paths), step):
            add(spec, fmt, paths[start : start + step], root)

    for spec in config.sources:
        if spec.format == BUILTIN_STDLIB or (spec.path == BUILTIN_STDLIB and spec.format == "auto"):
            root = stdlib_dir()
            files = [
                p
                for p in _walk(root)
                if p.suffix == ".py" and not {"site-packages", "dist-packages"} & set(p.relative_to(root).parts)
            ]
            spec = spec.model_copy(update={"name": spec.name or BUILTIN_STDLIB})
            add_grouped(spec, "code", files, root)
            continue
        path = Path(spec.path).expanduser()
        if not path.exists():
            raise SourceError(
                f"source not found: {spec.path}",
                hint=f"check the path; the built-in source is '{BUILTIN_STDLIB}'",
            )
        if path.is_file():
            fmt = spec.format if spec.format != "auto" else format_of_file(path)
            if fmt is None:
                raise SourceError(
                    f"cannot tell the format of {spec.path}",
                    hint="pass --format jsonl|parquet|csv|text|code (or set `format:` in curate.yaml)",
                )
            add(spec, fmt, [path], path.parent)
            continue
        if spec.format == "hf" or (spec.format == "auto" and _hf_data_files(path) is not None):
            files = _hf_data_files(path)
            if not files:
                raise SourceError(
                    f"{spec.path} is not a dataset saved with `datasets.save_to_disk`",
                    hint="a folder of parquet/jsonl files is read with --format auto",
                )
            for file in files:
                add(spec, "hf", [file], path)
            continue
        grouped: dict[str, list[Path]] = {}
        not_read = _LeftOut(skipped)
        for file in _walk(path, not_read):
            if not _regular_or_dangling(file):  # a FIFO, socket or device: reading it may never end
                not_read(str(file), NOT_REGULAR)
                continue
            fmt = _folder_file_format(file, spec)
            if fmt is None:
                ext = file.suffix.lower() or "(no extension)"
                not_read(str(file), f"a {ext} file: not read by this source (use --format/--ext to include)", ext)
            elif fmt in TABULAR_FORMATS:
                add(spec, fmt, [file], path)
            else:
                grouped.setdefault(fmt, []).append(file)
        for fmt, files in grouped.items():
            add_grouped(spec, fmt, files, path)
        if not any(u.spec is spec for u in units):
            raise SourceError(
                f"no readable files in {spec.path}",
                hint="pass --format text|code and --ext to choose which files to read",
            )
        if not_read.files:
            add(spec, NOT_READ_FORMAT, [Path(f) for f, _ in not_read.files], path, [w for _, w in not_read.files])
    return Plan(units=units, skipped=skipped)
