"""Diversity seeds: the packaged axes, the sampler, web seeds and the seeds table rows."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pytest

from curators.errors import ConfigError
from curators.synth.axes import AXIS_FILES, DATA_DIR, load_axes
from curators.synth.seeds import (
    Seed,
    SeedConfig,
    cut_extract,
    derive_topic,
    sample_seeds,
    seed_prompt_fields,
    web_seeds,
)
from warehouse.schemas import SEEDS

PROMPT_KEYS = {
    "subject",
    "topic",
    "subtopic",
    "audience",
    "audience_instructions",
    "style",
    "style_instructions",
    "persona",
    "vocabulary",
    "extract",
    "kind",
}


@pytest.fixture(scope="module")
def axes():
    return load_axes(None)


def small_axes_dir(tmp_path: Path) -> Path:
    """An axes_dir with tiny topics/audiences/styles; personas and words stay packaged."""
    (tmp_path / "topics.yaml").write_text("Math:\n  Numbers:\n    - counting\n    - adding\n", encoding="utf-8")
    (tmp_path / "audiences.yaml").write_text(
        "kids:\n  label: kids\n  instructions: short words\nadults:\n  label: adults\n  instructions: long words\n",
        encoding="utf-8",
    )
    (tmp_path / "styles.yaml").write_text("story:\n  label: story\n  instructions: tell a story\n", encoding="utf-8")
    return tmp_path


# --- The packaged axes ---------------------------------------------------------------------------------------


def test_packaged_axes_meet_the_size_minima(axes) -> None:
    assert len(axes.leaves()) >= 600
    assert len(axes.topics) >= 6
    assert len(set(axes.leaves())) == len(axes.leaves())
    assert {"young_children", "middle_school", "high_school", "college", "professionals"} <= set(axes.audiences)
    assert len({a.instructions for a in axes.audiences.values()}) == len(axes.audiences)
    assert {"textbook_chapter", "narrative_textbook", "blog_post", "wikihow", "worked_problems", "story"} <= set(
        axes.styles
    )
    assert len({s.instructions for s in axes.styles.values()}) == len(axes.styles)
    assert len(set(axes.personas)) >= 250
    for pos in ("noun", "verb", "adjective"):
        assert len(axes.words[pos]) >= 300, pos
    assert all(path.parent == DATA_DIR for path in axes.files.values())


def test_packaged_taxonomy_covers_the_broad_areas(axes) -> None:
    for subject in ("Physics", "Chemistry", "Biology", "Mathematics", "Computer science", "History", "Economics"):
        assert subject in axes.topics
    assert any(sub == "Le Chatelier's principle" for _, _, sub in axes.leaves())


# --- The sampler ---------------------------------------------------------------------------------------------


def test_sampler_is_reproducible_and_seeds_are_distinct(axes) -> None:
    first = sample_seeds(SeedConfig(n=200, seed=7), axes)
    again = sample_seeds(SeedConfig(n=200, seed=7), axes)
    other = sample_seeds(SeedConfig(n=200, seed=8), axes)
    assert [s.seed_id for s in first] == [s.seed_id for s in again]
    assert [s.seed_id for s in first] != [s.seed_id for s in other]
    assert len({s.seed_id for s in first}) == 200
    assert len(set(first)) == 200
    assert all(s.kind == "taxonomy" and s.subject and s.subtopic and s.persona for s in first)


def test_seed_id_is_a_stable_content_hash() -> None:
    seed = Seed(kind="taxonomy", subject="Math", topic="Numbers", subtopic="adding", vocabulary=("cat", "run", "red"))
    same = Seed(kind="taxonomy", subject="Math", topic="Numbers", subtopic="adding", vocabulary=("cat", "run", "red"))
    assert seed.seed_id == same.seed_id
    assert len(seed.seed_id) == 16 and int(seed.seed_id, 16) >= 0
    # A fixed value: the id must not change between processes or releases without notice.
    assert seed.seed_id == "7a1114ed5112ba45"
    assert Seed(kind="taxonomy", subject="Math", topic="Numbers", subtopic="counting").seed_id != seed.seed_id


def test_vocabulary_is_one_noun_one_verb_one_adjective_by_default(axes) -> None:
    for seed in sample_seeds(SeedConfig(n=20), axes):
        noun, verb, adjective = seed.vocabulary
        assert noun in axes.words["noun"] and verb in axes.words["verb"] and adjective in axes.words["adjective"]
    assert all(s.vocabulary == () for s in sample_seeds(SeedConfig(n=20, vocabulary_words=0), axes))
    assert all(len(s.vocabulary) == 5 for s in sample_seeds(SeedConfig(n=5, vocabulary_words=5), axes))
    assert all(s.persona is None for s in sample_seeds(SeedConfig(n=5, use_persona=False), axes))


def test_weights_shift_frequencies(axes) -> None:
    weights = {
        "audience": {"college": 9.0, "young_children": 1.0}
        | {a: 0.0 for a in axes.audiences if a not in {"college", "young_children"}}
    }
    seeds = sample_seeds(SeedConfig(n=1000, seed=1, weights=weights), axes)
    counts = Counter(s.audience for s in seeds)
    assert set(counts) == {"college", "young_children"}
    assert counts["college"] >= 800

    heavy = sample_seeds(SeedConfig(n=1000, seed=1, weights={"subject": {"Physics": 10.0}}), axes)
    uniform = sample_seeds(SeedConfig(n=1000, seed=1), axes)
    assert sum(s.subject == "Physics" for s in heavy) > 3 * sum(s.subject == "Physics" for s in uniform)


def test_topic_is_uniform_over_leaves_by_default(axes) -> None:
    seeds = sample_seeds(SeedConfig(n=3000, seed=3), axes)
    share = Counter(s.subject for s in seeds)
    leaves = Counter(subject for subject, _, _ in axes.leaves())
    biggest, smallest = leaves.most_common()[0][0], leaves.most_common()[-1][0]
    assert share[biggest] > 2 * share[smallest]


@pytest.mark.parametrize(
    ("weights", "named"),
    [
        ({"colour": {"red": 1.0}}, "colour"),
        ({"audience": {"toddlers": 2.0}}, "toddlers"),
        ({"subject": {"Phyics": 2.0}}, "Phyics"),
        ({"style": {"story": -1.0}}, "story"),
    ],
)
def test_bad_weights_are_config_errors_naming_the_key(axes, weights, named) -> None:
    with pytest.raises(ConfigError, match=named):
        sample_seeds(SeedConfig(n=5, weights=weights), axes)


def test_asking_for_more_seeds_than_combinations_is_a_config_error(tmp_path: Path) -> None:
    axes = load_axes(small_axes_dir(tmp_path))
    config = SeedConfig(n=9, vocabulary_words=0, use_persona=False)  # 2 subtopics x 2 audiences x 1 style = 4
    with pytest.raises(ConfigError, match="only 4 distinct"):
        sample_seeds(config, axes)
    seeds = sample_seeds(config.model_copy(update={"n": 4}), axes)
    assert len({s.seed_id for s in seeds}) == 4


# --- axes_dir overrides --------------------------------------------------------------------------------------


def test_axes_dir_replaces_only_the_files_it_has(tmp_path: Path, axes) -> None:
    custom = load_axes(small_axes_dir(tmp_path))
    assert custom.topics == {"Math": {"Numbers": ["counting", "adding"]}}
    assert set(custom.audiences) == {"kids", "adults"}
    assert custom.personas == axes.personas
    assert custom.words == axes.words
    assert custom.files["topics.yaml"] == tmp_path / "topics.yaml"
    assert custom.files["personas.txt"] == DATA_DIR / "personas.txt"
    seeds = sample_seeds(SeedConfig(n=4, use_persona=False), custom)
    assert {s.subtopic for s in seeds} <= {"counting", "adding"}


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("topics.yaml", "Math:\n  - counting\n", "must map topics"),
        ("topics.yaml", "Math:\n  Numbers: counting\n", "non-empty list"),
        ("topics.yaml", "- a\n- b\n", "mapping of subjects"),
        ("topics.yaml", "Math: [unclosed\n", "not valid YAML"),
        ("audiences.yaml", "kids:\n  label: kids\n", "missing instructions"),
        ("styles.yaml", "story:\n  label: story\n  instructions: x\n  tone: warm\n", "unknown field 'tone'"),
        ("words.csv", "word,pos\ncat,noun\nquickly,adverb\n", "unknown pos 'adverb'"),
        ("words.csv", "name,kind\ncat,noun\n", "header"),
        ("personas.txt", "# only a comment\n\n", "no personas"),
        ("personas.txt", "a baker\na baker\n", "repeats"),
    ],
)
def test_malformed_override_files_are_config_errors_naming_the_file(
    tmp_path: Path, name: str, content: str, message: str
) -> None:
    (tmp_path / name).write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message) as info:
        load_axes(tmp_path)
    assert str(tmp_path / name) in str(info.value)


def test_axes_dir_that_is_not_a_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a folder"):
        load_axes(tmp_path / "missing")


def test_every_axis_file_is_packaged() -> None:
    assert sorted(p.name for p in DATA_DIR.iterdir() if p.name in AXIS_FILES) == sorted(AXIS_FILES)


# --- Web seeds -----------------------------------------------------------------------------------------------

LONG_TEXT = "# Photosynthesis in  C4 plants\n\n" + " ".join(
    f"Sentence number {i} explains one more step of carbon fixation in bundle sheath cells." for i in range(40)
)


def test_web_seeds_cut_extracts_at_a_boundary_and_skip_empty_text(axes) -> None:
    rows = [
        {"id": "doc-1", "text": LONG_TEXT, "score": 4.5},
        {"id": "doc-2", "text": "   \n ", "score": 4.9},
        {"id": "doc-3", "text": "Short text about tides.\r\nThe Moon pulls   the sea.", "score": 3.2},
        {"id": "doc-4", "text": "Too weak to use.", "score": 1.0},
        {"id": "doc-1", "text": LONG_TEXT, "score": 4.5},
    ]
    config = SeedConfig(n=10, mode="web", extract_chars=300)
    seeds = web_seeds(rows, config, axes)
    assert [s.source_doc_id for s in seeds] == ["doc-1", "doc-3"]
    assert seeds.skipped == {"empty_text": 1, "low_score": 1, "duplicate_id": 1}

    long, short = seeds
    assert long.kind == "web" and long.subject is None and long.subtopic is None
    assert len(long.extract) <= 300
    assert long.extract.endswith("cells.")
    assert LONG_TEXT.replace("  ", " ").startswith(long.extract)
    assert long.topic == "Photosynthesis in C4 plants"
    assert short.extract == "Short text about tides.\nThe Moon pulls the sea."
    assert short.topic == "Short text about tides"
    assert long.audience in axes.audiences and long.style in axes.styles and long.persona in axes.personas

    assert [s.seed_id for s in web_seeds(rows, config, axes)] == [s.seed_id for s in seeds]
    assert len(web_seeds(rows, config.model_copy(update={"n": 1}), axes)) == 1


def test_cut_extract_falls_back_to_a_word_boundary() -> None:
    text = "word " * 100  # no sentence ends
    cut = cut_extract(text, 42)
    assert len(cut) <= 42 and cut.endswith("word") and not cut.endswith(" ")
    assert cut_extract("x" * 50, 10) == "x" * 10


def test_derive_topic_trims_long_first_sentences() -> None:
    topic = derive_topic("A " + "very " * 40 + "long opening sentence. Then more.")
    assert len(topic) <= 80 and not topic.endswith(" ")
    assert derive_topic("Intro line\n## The **Krebs** cycle\nbody") == "The Krebs cycle"


# --- Rows and prompt fields ----------------------------------------------------------------------------------


def test_as_row_matches_the_seeds_schema(axes) -> None:
    taxonomy = sample_seeds(SeedConfig(n=5), axes)
    web = web_seeds([{"id": "d", "text": LONG_TEXT, "score": 5.0}], SeedConfig(n=1, mode="web"), axes)
    rows = [s.as_row("run-1") for s in [*taxonomy, *web]]
    assert all(list(row) == SEEDS.names for row in rows)
    table = pa.Table.from_pylist(rows, schema=SEEDS)
    assert table.num_rows == 6
    assert json.loads(rows[0]["vocabulary"]) == list(taxonomy[0].vocabulary)
    assert Seed.from_row(rows[0]) == taxonomy[0]
    assert Seed.from_row(rows[-1]).seed_id == rows[-1]["seed_id"]


def test_seed_prompt_fields(axes) -> None:
    seed = sample_seeds(SeedConfig(n=1), axes)[0]
    fields = seed_prompt_fields(seed, axes)
    assert set(fields) == PROMPT_KEYS
    assert fields["audience"] == axes.audiences[seed.audience].label
    assert fields["style_instructions"] == axes.styles[seed.style].instructions
    assert fields["vocabulary"] == list(seed.vocabulary) and fields["extract"] == ""

    web = web_seeds([{"id": "d", "text": LONG_TEXT, "score": 5.0}], SeedConfig(n=1), axes)[0]
    assert seed_prompt_fields(web, axes)["extract"] == web.extract and seed_prompt_fields(web, axes)["subject"] == ""

    with pytest.raises(ConfigError, match="toddlers"):
        seed_prompt_fields(Seed(kind="taxonomy", audience="toddlers"), axes)
