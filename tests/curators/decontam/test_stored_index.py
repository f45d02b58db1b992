"""The benchmark index kept on disk: read back, it finds what the built one finds; its key follows what the
build reads; a damaged copy is built again; old copies are removed."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import curators.decontam.stored_index as stored
from curators.decontam.benchsets import load_builtin
from curators.decontam.config import DecontamConfig
from curators.decontam.index import build_index
from curators.errors import CurateError
from tests.curators.dedup.test_clusters import real_texts

NAMES = ["gsm8k", "humaneval", "winogrande"]  # WinoGrande: items of several variants


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "index-cache"
    monkeypatch.setenv(stored.CACHE_ENV, str(folder))
    return folder


def user_set(path: Path, texts: list[str]) -> Path:
    path.write_text("".join(json.dumps({"id": f"u{i}", "text": t}) + "\n" for i, t in enumerate(texts)))
    return path


def planted_texts() -> list[str]:
    prose = real_texts(8)
    texts = []
    for k, name in enumerate(NAMES):
        items = load_builtin(name)
        texts += [prose[k] + "\n\n" + items[k * 7 + 3].text + "\n" + prose[k + 3], items[-1].text.upper()]
    return [*texts, prose[7]]


def test_a_stored_index_finds_what_the_built_one_finds_and_is_not_built_again(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    extra = user_set(tmp_path / "mine.jsonl", [" ".join(real_texts(12)[10].split()[:40])])
    config = DecontamConfig(benchmarks=NAMES, extra_jsonl=[extra], min_ngram_overlap=0.1)
    built = build_index(config)
    first = stored.stored_index(config)
    assert [p.name for p in cache.iterdir()] == [stored.index_key(config)]  # stored whole, nothing left over

    def no_build(*args: object) -> None:
        raise AssertionError("built again")

    monkeypatch.setattr(stored, "build_index", no_build)
    again = stored.stored_index(config)
    texts = [*planted_texts(), real_texts(12)[10]]
    found = [built.find(t) for t in texts]
    assert sum(map(len, found)) >= 7  # the planted items and the user's
    assert [again.find(t) for t in texts] == [first.find(t) for t in texts] == found
    assert again.stats == first.stats and again.sizes() == built.sizes() and again.items == built.items
    assert again.stats.ngrams == built.stats.ngrams and again.stats.vocabulary == built.stats.vocabulary
    # Another matching setting (not the build's) reads the same stored index, and matches by its own rule.
    strict = config.model_copy(update={"min_ngram_overlap": 1.0})
    assert stored.index_key(strict) == stored.index_key(config)
    assert [stored.stored_index(strict).find(t) for t in texts] == [build_index(strict).find(t) for t in texts]


def test_the_key_follows_what_the_build_reads(cache: Path, tmp_path: Path) -> None:
    extra = user_set(tmp_path / "mine.jsonl", ["one two three four five six seven eight nine ten"])
    config = DecontamConfig(benchmarks=["gsm8k"], extra_jsonl=[extra])
    key = stored.index_key(config)
    assert stored.index_key(config.model_copy(update={"ngram": 12})) != key
    assert stored.index_key(config.model_copy(update={"max_items_per_ngram": 3})) != key
    assert stored.index_key(config.model_copy(update={"benchmarks": ["gsm8k", "mbpp"]})) != key
    assert stored.index_key(config.model_copy(update={"difflib_threshold": 0.9})) == key
    user_set(extra, ["one two three four five six seven eight nine eleven"])  # same file, new contents
    assert stored.index_key(config) != key
    # A file that is not there: the set reader's clear error, and nothing stored.
    missing = config.model_copy(update={"extra_jsonl": [tmp_path / "gone.jsonl"]})
    with pytest.raises(CurateError, match="benchmark file not found: .*gone.jsonl"):
        stored.stored_index(missing)
    assert not cache.exists()


def test_a_damaged_stored_index_is_built_again_and_old_ones_are_removed(
    cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    config = DecontamConfig(benchmarks=["humaneval"])
    text = planted_texts()[2]
    expected = stored.stored_index(config).find(text)
    folder = cache / stored.index_key(config)
    (folder / "vocabulary.txt").write_text("cut short")
    with caplog.at_level(logging.WARNING):
        assert stored.stored_index(config).find(text) == expected
    assert "could not be read" in caplog.text and (folder / "index.json").is_file()
    assert stored.stored_index(config).find(text) == expected  # whole again

    monkeypatch.setattr(stored, "KEEP", 2)
    for ngram in (11, 12):
        stored.stored_index(config.model_copy(update={"ngram": ngram}))
    kept = {p.name for p in cache.iterdir()}
    assert kept == {stored.index_key(config.model_copy(update={"ngram": n})) for n in (11, 12)}
