"""Diversity seeds: one draw of the diversity axes (or one web extract) per text to generate.

Cosmopedia's lesson: scaling synthetic data is a diversity problem, not a prompt problem. A seed fixes what
a text is about and how it is written, so that thousands of generations do not collapse onto the same
few texts. The axes are data, loaded by `curators.synth.axes` (see there for the files and `axes_dir`).

Rules:

- Taxonomy mode (`sample_seeds`): every axis is drawn independently from one `random.Random(config.seed)`
  (never the global random state), in a fixed order per seed: leaf (subject, topic, subtopic), audience,
  style, persona, vocabulary. The leaf is drawn uniformly over LEAF subtopics, so a subject with more
  subtopics gets proportionally more seeds. `weights` multiply: a leaf weighs subject weight x topic weight
  (default 1 each); audience and style values weigh their own weight (default 1). A weight of 0 removes a
  value. Unknown axes or values, negative weights or an axis whose weights are all 0 are `ConfigError`.
- Vocabulary: `vocabulary_words` words, taking parts of speech in turn noun, verb, adjective, noun, ...
  (3 = one of each), distinct, sorted within each part of speech, listed noun, verb, adjective.
- No two seeds are identical: a draw that repeats an earlier one is redrawn. Asking for more seeds than
  there are distinct combinations is a `ConfigError`.
- `seed_id` is the first 16 hex characters of the sha256 of the seed's content fields (canonical JSON),
  so the same draw has the same id in every run and process.
- Web mode (`web_seeds`, Cosmopedia style): one seed per usable row (a top-scored curated document), in
  row order, at most `config.n`. Rows with empty text, a score below `web_min_score` or an id already
  seen are skipped; the returned `WebSeeds` list counts them in `.skipped`. The extract is the text with
  whitespace tidied (line endings normalised, runs of spaces/tabs -> one space, at most one blank line
  between paragraphs), cut to at most `extract_chars` characters at the last sentence end in the second
  half of the window, else at the last whitespace, else hard. The topic is the first markdown heading of
  the extract, else its first sentence (first line at most), markdown markup removed, cut to 80 characters
  at a word boundary. Subject and subtopic are empty; audience, style, persona and vocabulary are drawn as
  in taxonomy mode.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import random
import re
from dataclasses import dataclass
from itertools import accumulate
from pathlib import Path
from typing import Any, Literal

from curators.errors import ConfigError
from curators.synth.axes import AUDIENCES_FILE, PARTS_OF_SPEECH, STYLES_FILE, WORDS_FILE, Axes, AxisEntry
from curators.synth.config import SeedConfig

WEIGHT_AXES = ("subject", "topic", "audience", "style")
TOPIC_MAX_CHARS = 80
SEED_ID_CHARS = 16
SEED_KINDS = ("taxonomy", "web")


@dataclass(frozen=True)
class Seed:
    """One seed: a row of the `seeds` table minus `run_id`. `seed_id` is derived from the content fields."""

    kind: Literal["taxonomy", "web"]
    subject: str | None = None
    topic: str | None = None
    subtopic: str | None = None
    audience: str | None = None
    style: str | None = None
    persona: str | None = None
    vocabulary: tuple[str, ...] = ()
    source_doc_id: str | None = None
    extract: str | None = None

    def content(self) -> dict[str, Any]:
        """The content fields, the input of `seed_id`."""
        return {
            "kind": self.kind,
            "subject": self.subject,
            "topic": self.topic,
            "subtopic": self.subtopic,
            "audience": self.audience,
            "style": self.style,
            "persona": self.persona,
            "vocabulary": list(self.vocabulary),
            "source_doc_id": self.source_doc_id,
            "extract": self.extract,
        }

    @property
    def seed_id(self) -> str:
        canonical = json.dumps(self.content(), sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:SEED_ID_CHARS]

    def as_row(self, run_id: str) -> dict[str, Any]:
        """A row with exactly the columns of `warehouse.schemas.SEEDS` (vocabulary as a JSON list)."""
        row: dict[str, Any] = {"seed_id": self.seed_id}
        row.update(self.content())
        row["vocabulary"] = json.dumps(list(self.vocabulary), ensure_ascii=False)
        row["run_id"] = run_id
        return row

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Seed:
        """The seed of a `seeds` table row (the inverse of `as_row`; `seed_id` and `run_id` are not read)."""
        vocabulary = json.loads(row["vocabulary"]) if row.get("vocabulary") else []
        return cls(
            kind=row["kind"],
            subject=row.get("subject"),
            topic=row.get("topic"),
            subtopic=row.get("subtopic"),
            audience=row.get("audience"),
            style=row.get("style"),
            persona=row.get("persona"),
            vocabulary=tuple(vocabulary),
            source_doc_id=row.get("source_doc_id"),
            extract=row.get("extract"),
        )


class WebSeeds(list[Seed]):
    """The seeds of `web_seeds`, with `skipped`: rows not used, per reason (empty_text, low_score, duplicate_id)."""

    def __init__(self, seeds: list[Seed], skipped: dict[str, int]) -> None:
        super().__init__(seeds)
        self.skipped = skipped


# --- Sampling ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """What one seed is drawn from: the weighted values of each axis and how many words of each pos."""

    leaves: list[tuple[str, str, str]]
    leaf_cum: list[float]
    audiences: list[str]
    audience_cum: list[float]
    styles: list[str]
    style_cum: list[float]
    personas: list[str]
    words_per_pos: dict[str, int]
    words: dict[str, list[str]]


def _check_weights(config: SeedConfig, axes: Axes) -> None:
    known: dict[str, list[str]] = {
        "subject": list(axes.topics),
        "topic": sorted({t for topics in axes.topics.values() for t in topics}),
        "audience": list(axes.audiences),
        "style": list(axes.styles),
    }
    for axis, values in config.weights.items():
        if axis not in known:
            raise ConfigError(f"seeds.weights: unknown axis {axis!r}", hint=f"weighted axes: {', '.join(WEIGHT_AXES)}")
        for value, weight in values.items():
            if value not in known[axis]:
                close = difflib.get_close_matches(value, known[axis], n=3)
                hint = f"did you mean {', '.join(map(repr, close))}?" if close else f"see {axis} values in the axes"
                raise ConfigError(f"seeds.weights.{axis}: unknown {axis} {value!r}", hint=hint)
            if not math.isfinite(weight) or weight < 0:
                raise ConfigError(f"seeds.weights.{axis}.{value}: weight {weight} must be a finite number >= 0")


def _cumulative(weights: list[float], axis: str) -> list[float]:
    if not weights or sum(weights) <= 0:
        raise ConfigError(f"seeds.weights.{axis}: every {axis} has weight 0 (or there is none): nothing to draw")
    return list(accumulate(weights))


def _words_per_pos(n_words: int) -> dict[str, int]:
    counts = {pos: 0 for pos in PARTS_OF_SPEECH}
    for i in range(n_words):
        counts[PARTS_OF_SPEECH[i % len(PARTS_OF_SPEECH)]] += 1
    return counts


def _plan(config: SeedConfig, axes: Axes) -> _Plan:
    _check_weights(config, axes)
    w = config.weights
    leaves = axes.leaves()
    leaf_weights = [w.get("subject", {}).get(s, 1.0) * w.get("topic", {}).get(t, 1.0) for s, t, _ in leaves]
    audiences = list(axes.audiences)
    styles = list(axes.styles)
    words_per_pos = _words_per_pos(config.vocabulary_words)
    for pos, k in words_per_pos.items():
        if k > len(axes.words[pos]):
            raise ConfigError(
                f"seeds.vocabulary_words = {config.vocabulary_words} needs {k} distinct {pos}s; "
                f"{axes.files.get(WORDS_FILE, WORDS_FILE)} has {len(axes.words[pos])}",
                hint="lower seeds.vocabulary_words or add words",
            )
    personas = axes.personas if config.use_persona else []
    return _Plan(
        leaves=leaves,
        leaf_cum=_cumulative(leaf_weights, "subject/topic"),
        audiences=audiences,
        audience_cum=_cumulative([w.get("audience", {}).get(a, 1.0) for a in audiences], "audience"),
        styles=styles,
        style_cum=_cumulative([w.get("style", {}).get(s, 1.0) for s in styles], "style"),
        personas=personas,
        words_per_pos=words_per_pos,
        words=axes.words,
    )


def _n_nonzero(cum: list[float]) -> int:
    return sum(1 for before, after in zip([0.0, *cum], cum, strict=False) if after > before)


def _distinct_draws(plan: _Plan) -> int:
    total = _n_nonzero(plan.leaf_cum) * _n_nonzero(plan.audience_cum) * _n_nonzero(plan.style_cum)
    total *= max(1, len(plan.personas))
    for pos, k in plan.words_per_pos.items():
        total *= math.comb(len(plan.words[pos]), k)
    return total


def _pick(rng: random.Random, values: list[Any], cum: list[float]) -> Any:
    return rng.choices(values, cum_weights=cum, k=1)[0]


def _draw_common(rng: random.Random, plan: _Plan) -> dict[str, Any]:
    """Audience, style, persona and vocabulary, in that order."""
    audience = _pick(rng, plan.audiences, plan.audience_cum)
    style = _pick(rng, plan.styles, plan.style_cum)
    persona = rng.choice(plan.personas) if plan.personas else None
    vocabulary: list[str] = []
    for pos in PARTS_OF_SPEECH:
        k = plan.words_per_pos[pos]
        if k:
            vocabulary.extend(sorted(rng.sample(plan.words[pos], k)))
    return {"audience": audience, "style": style, "persona": persona, "vocabulary": tuple(vocabulary)}


def sample_seeds(config: SeedConfig, axes: Axes) -> list[Seed]:
    """`config.n` distinct taxonomy seeds, reproducible for `config.seed` (see the module docstring)."""
    plan = _plan(config, axes)
    available = _distinct_draws(plan)
    if config.n > available:
        raise ConfigError(
            f"seeds.n = {config.n} but the axes allow only {available} distinct seeds",
            hint="lower seeds.n, add axis values, or raise seeds.vocabulary_words / enable personas",
        )
    rng = random.Random(config.seed)
    max_draws = 100 * config.n + 10_000
    seeds: list[Seed] = []
    seen: set[Seed] = set()
    draws = 0
    while len(seeds) < config.n:
        if draws >= max_draws:
            raise ConfigError(
                f"drew {draws} seeds and found only {len(seeds)} distinct ones of the {config.n} asked",
                hint="the weights concentrate on too few combinations: lower seeds.n or even out seeds.weights",
            )
        draws += 1
        subject, topic, subtopic = _pick(rng, plan.leaves, plan.leaf_cum)
        seed = Seed(kind="taxonomy", subject=subject, topic=topic, subtopic=subtopic, **_draw_common(rng, plan))
        if seed not in seen:
            seen.add(seed)
            seeds.append(seed)
    return seeds


# --- Web seeds ---------------------------------------------------------------------------------------------

_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*(?=\s)|\n")
_MARKUP = re.compile(r"[*`]+|\[([^\]]*)\]\([^)]*\)")


def tidy_whitespace(text: str) -> str:
    """Line endings to \\n, runs of spaces/tabs to one space, no trailing spaces, at most one blank line."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def cut_extract(text: str, max_chars: int) -> str:
    """The tidied text, cut to at most `max_chars` at a sentence end, else a word boundary, else hard."""
    text = tidy_whitespace(text)
    if len(text) <= max_chars:
        return text
    window = text[: max_chars + 1]  # one more: a boundary right after the limit still counts
    ends = [m.end() for m in _SENTENCE_END.finditer(window) if max_chars // 2 <= m.end() <= max_chars]
    if ends:
        return window[: ends[-1]].strip()
    space = max(window.rfind(" "), window.rfind("\n"))
    if space > 0:
        return window[:space].strip()
    return text[:max_chars].strip()


def derive_topic(extract: str) -> str:
    """The first markdown heading of the extract, else its first sentence; at most 80 characters."""
    lines = [line.strip() for line in extract.split("\n") if line.strip()]
    topic = ""
    for line in lines:
        heading = _HEADING.match(line)
        if heading:
            topic = heading.group(1)
            break
    if not topic and lines:
        first = lines[0]
        end = re.search(r"[.!?](?=\s|$)", first)
        topic = first[: end.end()] if end else first
    topic = " ".join(_MARKUP.sub(lambda m: m.group(1) or "", topic).split()).strip(" .:;,-")
    if len(topic) > TOPIC_MAX_CHARS:
        cut = topic.rfind(" ", 0, TOPIC_MAX_CHARS + 1)
        topic = topic[: cut if cut > 0 else TOPIC_MAX_CHARS].rstrip(" .:;,-")
    return topic


def web_seeds(rows: list[dict[str, Any]], config: SeedConfig, axes: Axes) -> WebSeeds:
    """One web seed per usable row (`id`, `text`, `score`), in order, at most `config.n`. Pure: no I/O.

    Skipped rows are counted in the result's `.skipped`: empty_text, low_score (below `web_min_score`;
    a missing score is not filtered) and duplicate_id.
    """
    plan = _plan(config, axes)
    rng = random.Random(config.seed)
    skipped = {"empty_text": 0, "low_score": 0, "duplicate_id": 0}
    seen_ids: set[str] = set()
    seeds: list[Seed] = []
    for row in rows:
        if len(seeds) >= config.n:
            break
        doc_id = str(row["id"])
        text = row.get("text") or ""
        score = row.get("score")
        if not text.strip():
            skipped["empty_text"] += 1
            continue
        if score is not None and score < config.web_min_score:
            skipped["low_score"] += 1
            continue
        if doc_id in seen_ids:
            skipped["duplicate_id"] += 1
            continue
        seen_ids.add(doc_id)
        extract = cut_extract(text, config.extract_chars)
        common = _draw_common(rng, plan)
        seeds.append(Seed(kind="web", topic=derive_topic(extract), source_doc_id=doc_id, extract=extract, **common))
    return WebSeeds(seeds, skipped)


# --- Prompt fields -----------------------------------------------------------------------------------------


def seed_prompt_fields(seed: Seed, axes: Axes) -> dict[str, Any]:
    """What a prompt template needs; missing values are "" (vocabulary: []), so `{% if persona %}` works."""
    audience = _entry(axes.audiences, seed.audience, "audience", axes.files.get(AUDIENCES_FILE))
    style = _entry(axes.styles, seed.style, "style", axes.files.get(STYLES_FILE))
    return {
        "kind": seed.kind,
        "subject": seed.subject or "",
        "topic": seed.topic or "",
        "subtopic": seed.subtopic or "",
        "audience": audience.label if audience else "",
        "audience_instructions": audience.instructions if audience else "",
        "style": style.label if style else "",
        "style_instructions": style.instructions if style else "",
        "persona": seed.persona or "",
        "vocabulary": list(seed.vocabulary),
        "extract": seed.extract or "",
    }


def _entry(entries: dict[str, AxisEntry], key: str | None, axis: str, path: Path | None) -> AxisEntry | None:
    if key is None:
        return None
    if key not in entries:
        raise ConfigError(
            f"seed {axis} {key!r} is not in {path or axis + 's'}",
            hint="generate with the same axes (seeds.axes_dir) the seeds were drawn with",
        )
    return entries[key]
