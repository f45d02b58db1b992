"""Diversity axes: loading the data files that seeds are drawn from.

The axes are data, shipped in `curators/synth/data/`:

- `topics.yaml`: subject -> topic -> list of subtopics (the leaves);
- `audiences.yaml`, `styles.yaml`: key -> {label, instructions}; each one changes format and depth, not a word;
- `personas.txt`: one persona per line (`#` comments and blank lines ignored);
- `words.csv`: header `word,pos`, pos in noun|verb|adjective (TinyStories-style vocabulary).

`axes_dir` replaces files one by one: a file of the same name there replaces the packaged one, files absent
fall back to the packaged ones. A malformed file is a `ConfigError` that names the file and what is wrong
with it.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from curators.errors import ConfigError

DATA_DIR = Path(__file__).resolve().parent / "data"
TOPICS_FILE = "topics.yaml"
AUDIENCES_FILE = "audiences.yaml"
STYLES_FILE = "styles.yaml"
PERSONAS_FILE = "personas.txt"
WORDS_FILE = "words.csv"
AXIS_FILES = (TOPICS_FILE, AUDIENCES_FILE, STYLES_FILE, PERSONAS_FILE, WORDS_FILE)

PARTS_OF_SPEECH = ("noun", "verb", "adjective")


@dataclass(frozen=True)
class AxisEntry:
    """One audience or style: a short label and the instructions that change the text's format."""

    label: str
    instructions: str


@dataclass(frozen=True)
class Axes:
    """The diversity axes, loaded by `load_axes`. `files` says where each file was read from."""

    topics: dict[str, dict[str, list[str]]]
    audiences: dict[str, AxisEntry]
    styles: dict[str, AxisEntry]
    personas: list[str]
    words: dict[str, list[str]]
    files: dict[str, Path] = field(default_factory=dict)

    def leaves(self) -> list[tuple[str, str, str]]:
        """Every (subject, topic, subtopic), in file order."""
        return [(s, t, sub) for s, topics in self.topics.items() for t, subs in topics.items() for sub in subs]


def load_axes(axes_dir: Path | None = None) -> Axes:
    """The packaged axes, with any file present in `axes_dir` replacing the packaged one of the same name."""
    if axes_dir is not None and not Path(axes_dir).is_dir():
        raise ConfigError(
            f"seeds.axes_dir {axes_dir} is not a folder",
            hint=f"point it at a folder holding any of: {', '.join(AXIS_FILES)}",
        )
    files: dict[str, Path] = {}
    for name in AXIS_FILES:
        override = Path(axes_dir) / name if axes_dir is not None else None
        files[name] = override if override is not None and override.is_file() else DATA_DIR / name
    return Axes(
        topics=_load_topics(files[TOPICS_FILE]),
        audiences=_load_entries(files[AUDIENCES_FILE]),
        styles=_load_entries(files[STYLES_FILE]),
        personas=_load_personas(files[PERSONAS_FILE]),
        words=_load_words(files[WORDS_FILE]),
        files=files,
    )


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read axis file {path}: {exc}") from exc


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(_read_text(path))
    except yaml.YAMLError as exc:
        raise ConfigError(f"axis file {path} is not valid YAML: {exc}") from exc


def _is_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip() != ""


def _load_topics(path: Path) -> dict[str, dict[str, list[str]]]:
    hint = "topics.yaml maps subject -> topic -> list of subtopics (non-empty strings)"
    data = _read_yaml(path)
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: expected a mapping of subjects, got {type(data).__name__}", hint=hint)
    topics: dict[str, dict[str, list[str]]] = {}
    for subject, subject_topics in data.items():
        if not _is_text(subject):
            raise ConfigError(f"{path}: subject {subject!r} is not a non-empty string", hint=hint)
        if not isinstance(subject_topics, dict) or not subject_topics:
            raise ConfigError(
                f"{path}: subject {subject!r} must map topics to lists of subtopics, "
                f"got {type(subject_topics).__name__}",
                hint=hint,
            )
        topics[subject] = {}
        for topic, subtopics in subject_topics.items():
            where = f"{path}: {subject!r} -> {topic!r}"
            if not _is_text(topic):
                raise ConfigError(f"{path}: topic {topic!r} under {subject!r} is not a non-empty string", hint=hint)
            if not isinstance(subtopics, list) or not subtopics:
                raise ConfigError(
                    f"{where} must be a non-empty list of subtopics, got {type(subtopics).__name__}", hint=hint
                )
            bad = [s for s in subtopics if not _is_text(s)]
            if bad:
                raise ConfigError(f"{where}: subtopic {bad[0]!r} is not a non-empty string", hint=hint)
            repeated = sorted({s for s in subtopics if subtopics.count(s) > 1})
            if repeated:
                raise ConfigError(f"{where}: subtopic {repeated[0]!r} is listed twice", hint=hint)
            topics[subject][topic] = [s.strip() for s in subtopics]
    return topics


def _load_entries(path: Path) -> dict[str, AxisEntry]:
    hint = f"{path.name} maps key -> {{label: ..., instructions: ...}}"
    data = _read_yaml(path)
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{path}: expected a mapping of keys to entries, got {type(data).__name__}", hint=hint)
    entries: dict[str, AxisEntry] = {}
    for key, entry in data.items():
        if not _is_text(key):
            raise ConfigError(f"{path}: key {key!r} is not a non-empty string", hint=hint)
        if not isinstance(entry, dict):
            raise ConfigError(f"{path}: {key!r} must be a mapping with label and instructions", hint=hint)
        unknown = sorted(set(entry) - {"label", "instructions"})
        if unknown:
            raise ConfigError(f"{path}: {key!r} has unknown field {unknown[0]!r}", hint=hint)
        for name in ("label", "instructions"):
            if not _is_text(entry.get(name)):
                raise ConfigError(f"{path}: {key!r} is missing {name} (a non-empty string)", hint=hint)
        entries[key] = AxisEntry(label=entry["label"].strip(), instructions=" ".join(entry["instructions"].split()))
    return entries


def _load_personas(path: Path) -> list[str]:
    personas: list[str] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(_read_text(path).splitlines(), start=1):
        persona = " ".join(line.split())
        if not persona or persona.startswith("#"):
            continue
        if persona in seen:
            raise ConfigError(f"{path}: line {number} repeats the persona of line {seen[persona]}: {persona!r}")
        seen[persona] = number
        personas.append(persona)
    if not personas:
        raise ConfigError(f"{path}: no personas", hint="one persona per line; # starts a comment")
    return personas


def _load_words(path: Path) -> dict[str, list[str]]:
    hint = f"words.csv has the header word,pos and pos in {'|'.join(PARTS_OF_SPEECH)}"
    reader = csv.reader(_read_text(path).splitlines())
    header = next(reader, None)
    if header is None or [h.strip() for h in header] != ["word", "pos"]:
        raise ConfigError(f"{path}: the header must be 'word,pos', got {','.join(header or [])!r}", hint=hint)
    words: dict[str, list[str]] = {pos: [] for pos in PARTS_OF_SPEECH}
    for number, record in enumerate(reader, start=2):
        if not record or all(not cell.strip() for cell in record):
            continue
        if len(record) != 2:
            raise ConfigError(f"{path}: line {number} has {len(record)} fields, expected 2 (word,pos)", hint=hint)
        word, pos = record[0].strip(), record[1].strip()
        if not word:
            raise ConfigError(f"{path}: line {number} has an empty word", hint=hint)
        if pos not in words:
            raise ConfigError(f"{path}: line {number} has unknown pos {pos!r} (word {word!r})", hint=hint)
        if word in words[pos]:
            raise ConfigError(f"{path}: line {number} repeats {word!r} as a {pos}", hint=hint)
        words[pos].append(word)
    if not any(words.values()):
        raise ConfigError(f"{path}: no words", hint=hint)
    return words
