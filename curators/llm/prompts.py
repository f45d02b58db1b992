"""Prompts as data: `prompts/<task>/<version>.j2`, each a Jinja template with YAML front matter.

Front matter keys: `description`, `output` (the name of the pydantic model the answer must fit),
`params` (sampling parameters sent with the request) and an optional `system` message (also a
template). The body is the user message. Rendering uses StrictUndefined: a missing variable is an
error, never an empty string. Every answer carries the prompt's id, `task@version:sha8`, where sha8
is the start of the sha256 of the template file, so editing a template changes the id.

Structured answers are parsed from the model's text (code fences and chatter around the JSON object
are tolerated) and validated against the output model, including the ranges a server's grammar does
not enforce.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from curators.errors import CurateError

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)


class EduScore(BaseModel):
    """An educational-value judgement: a short justification, then 0-5 points."""

    model_config = ConfigDict(extra="ignore")

    reason: str = Field(description="A short justification.", max_length=2000)
    score: int = Field(ge=0, le=5, description="Total points, 0 to 5.")


class Exercise(BaseModel):
    """One exercise with its worked solution; programming exercises also carry a signature and docstring."""

    model_config = ConfigDict(extra="ignore")

    question: str = Field(min_length=1, max_length=4000)
    solution: str = Field(min_length=1, max_length=8000)
    signature: str = Field(default="", max_length=1000)
    docstring: str = Field(default="", max_length=4000)


class Exercises(BaseModel):
    """Exercises written from one textbook passage."""

    model_config = ConfigDict(extra="ignore")

    exercises: list[Exercise] = Field(min_length=1, max_length=20)


class NewInstructions(BaseModel):
    """New task instructions (Self-Instruct, grounded questions)."""

    model_config = ConfigDict(extra="ignore")

    instructions: list[str] = Field(min_length=1, max_length=40)


class Rating(BaseModel):
    """UltraFeedback's four aspects, each 1-5, after a rationale."""

    model_config = ConfigDict(extra="ignore")

    rationale: str = Field(max_length=4000)
    instruction_following: int = Field(ge=1, le=5)
    helpfulness: int = Field(ge=1, le=5)
    honesty: int = Field(ge=1, le=5)
    truthfulness: int = Field(ge=1, le=5)


class PairVerdict(BaseModel):
    """Which of two responses, shown as A and B, is better."""

    model_config = ConfigDict(extra="ignore")

    reason: str = Field(max_length=2000)
    better: Literal["A", "B"]


OUTPUT_MODELS: dict[str, type[BaseModel]] = {
    "EduScore": EduScore,
    "Exercises": Exercises,
    "NewInstructions": NewInstructions,
    "Rating": Rating,
    "PairVerdict": PairVerdict,
}


@functools.cache
def json_schema_for(model: type[BaseModel], integer_enums: bool = True) -> dict[str, Any]:
    """A compact JSON schema for a server's grammar. Integer ranges become enums, because llama-cpp-python's
    grammar ignores minimum/maximum (a 0-5 score came back as 10 and 10346) but honours enums; llama.cpp's
    llama-server enforces the bounds themselves (`integer_enums=False`)."""
    schema = model.model_json_schema()
    for part in [schema, *schema.get("$defs", {}).values()]:
        for prop in part.get("properties", {}).values():
            prop.pop("title", None)
            lo, hi = prop.get("minimum"), prop.get("maximum")
            if integer_enums and prop.get("type") == "integer" and lo is not None and hi is not None and hi - lo <= 100:
                prop["enum"] = list(range(int(lo), int(hi) + 1))
            # Length bounds become huge grammars in llama.cpp; pydantic checks them after parsing.
            for key in ("maxLength", "minLength", "maxItems"):
                prop.pop(key, None)
        part.pop("title", None)
        part.pop("description", None)
    return schema


@dataclass(frozen=True)
class Prompt:
    task: str
    version: str
    path: Path
    text: str  # the whole file
    body: str
    system: str | None
    description: str
    output: str | None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def sha8(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:8]

    @property
    def prompt_id(self) -> str:
        return f"{self.task}@{self.version}:{self.sha8}"

    @property
    def output_model(self) -> type[BaseModel] | None:
        return OUTPUT_MODELS[self.output] if self.output else None

    def render(self, **variables: Any) -> list[dict[str, str]]:
        """Chat messages for the given variables (StrictUndefined: every variable must be given)."""
        from jinja2 import Environment, StrictUndefined, TemplateError, UndefinedError

        env = Environment(undefined=StrictUndefined, keep_trailing_newline=False, autoescape=False)
        try:
            messages = []
            if self.system:
                messages.append({"role": "system", "content": env.from_string(self.system).render(**variables).strip()})
            messages.append({"role": "user", "content": env.from_string(self.body).render(**variables).strip()})
        except UndefinedError as exc:
            raise CurateError(
                f"prompt {self.prompt_id} needs a variable that was not given: {exc}",
                hint=f"variables given: {', '.join(sorted(variables)) or 'none'}",
            ) from None
        except TemplateError as exc:
            raise CurateError(f"prompt template {self.path} is invalid: {exc}") from None
        return messages


def _parse(path: Path, task: str) -> Prompt:
    text = path.read_text(encoding="utf-8")
    match = FRONT_MATTER.match(text)
    if not match:
        raise CurateError(f"{path} has no front matter", hint="start the file with a '---' YAML block")
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as exc:
        raise CurateError(f"{path}: front matter is not valid YAML: {exc}") from None
    unknown = set(meta) - {"description", "output", "params", "system"}
    if unknown:
        raise CurateError(f"{path}: unknown front matter keys: {', '.join(sorted(unknown))}")
    output = meta.get("output")
    if output is not None and output not in OUTPUT_MODELS:
        raise CurateError(f"{path}: unknown output model {output!r}; known: {', '.join(OUTPUT_MODELS)}")
    return Prompt(
        task=task,
        version=path.stem,
        path=path,
        text=text,
        body=text[match.end() :],
        system=meta.get("system"),
        description=" ".join(str(meta.get("description", "")).split()),
        output=output,
        params=dict(meta.get("params") or {}),
    )


def _version_key(version: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"(\d+)", version))


def list_prompts(root: Path = PROMPTS_DIR) -> list[Prompt]:
    """Every prompt version, sorted by task and version."""
    found = []
    for path in sorted(root.glob("*/*.j2")):
        found.append(_parse(path, path.parent.name))
    return sorted(found, key=lambda p: (p.task, _version_key(p.version)))


@functools.lru_cache(maxsize=64)
def load_prompt(spec: str, root: Path = PROMPTS_DIR) -> Prompt:
    """`task` (latest version) or `task@version` (read once per process: templates are data of a run)."""
    task, _, version = spec.partition("@")
    version = version.split(":")[0]
    versions = [p for p in list_prompts(root) if p.task == task]
    if not versions:
        tasks = sorted({p.task for p in list_prompts(root)})
        raise CurateError(f"no prompt named {task!r}", hint=f"prompts: {', '.join(tasks)}")
    if not version:
        return versions[-1]
    for prompt in versions:
        if prompt.version == version:
            return prompt
    raise CurateError(
        f"prompt {task!r} has no version {version!r}", hint=f"versions: {', '.join(p.version for p in versions)}"
    )


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> Any:
    """The first JSON object in a model's answer (inside code fences or surrounded by chatter)."""
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    decoder = json.JSONDecoder()
    for candidate in candidates:
        for start in [i for i, c in enumerate(candidate) if c == "{"][:20]:
            try:
                value, _ = decoder.raw_decode(candidate[start:])
            except ValueError:
                continue
            if isinstance(value, dict):
                return value
    raise ValueError("no JSON object in the answer")


def parse_answer(text: str, model: type[BaseModel]) -> BaseModel:
    """Parse and validate a structured answer. Raises ValueError with a message fit for a re-ask."""
    try:
        data = extract_json(text)
    except ValueError as exc:
        raise ValueError(str(exc)) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'answer'}: {e['msg']}" for e in exc.errors())
        raise ValueError(problems) from None
