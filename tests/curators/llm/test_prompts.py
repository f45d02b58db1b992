from __future__ import annotations

import re

import pytest

from curators.errors import CurateError
from curators.llm.prompts import (
    EduScore,
    Exercises,
    NewInstructions,
    PairVerdict,
    Rating,
    extract_json,
    json_schema_for,
    list_prompts,
    load_prompt,
    parse_answer,
)


def test_shipped_prompts_have_ids_outputs_and_params() -> None:
    prompts = {p.task: p for p in list_prompts()}
    expected = {
        "edu": EduScore,
        "edu-code": EduScore,
        "textbook": None,
        "exercises": Exercises,
        "self-instruct": NewInstructions,
        "evol-depth": None,
        "evol-breadth": None,
        "grounded": NewInstructions,
        "response": None,
        "judge": Rating,
        "pairwise": PairVerdict,
    }
    assert set(prompts) == set(expected)
    for prompt in prompts.values():
        assert re.fullmatch(rf"{prompt.task}@v\d+:[0-9a-f]{{8}}", prompt.prompt_id)
        assert prompt.output_model is expected[prompt.task]
        assert prompt.params["max_tokens"] > 0
        assert prompt.description
    # Judgements are deterministic; generations sample.
    assert prompts["edu"].params["temperature"] == 0.0 and prompts["textbook"].params["temperature"] > 0
    assert prompts["judge"].params["temperature"] == 0 == prompts["pairwise"].params["temperature"]


def test_render_fills_the_document_and_refuses_missing_variables() -> None:
    prompt = load_prompt("edu-code")
    messages = prompt.render(text="def add(a, b):\n    return a + b", truncated=True, language="python")
    assert [m["role"] for m in messages] == ["system", "user"]
    assert "def add(a, b)" in messages[1]["content"] and "(python)" in messages[1]["content"]
    assert "cut to its first part" in messages[1]["content"]
    with pytest.raises(CurateError, match="needs a variable"):
        prompt.render(text="x")  # `truncated` and `language` are not given


def test_prompt_lookup_by_version_and_clear_errors() -> None:
    assert load_prompt("edu@v1").version == "v1"
    with pytest.raises(CurateError, match="no prompt named"):
        load_prompt("nope")
    with pytest.raises(CurateError, match="no version"):
        load_prompt("edu@v99")


def test_schema_turns_integer_ranges_into_enums_for_grammars() -> None:
    schema = json_schema_for(EduScore)
    assert schema["properties"]["score"]["enum"] == [0, 1, 2, 3, 4, 5]
    assert schema["required"] == ["reason", "score"]


@pytest.mark.parametrize(
    "text",
    [
        '{"reason": "ok", "score": 4}',
        'Sure! ```json\n{"reason": "ok", "score": 4}\n```',
        'My verdict: {"reason": "ok", "score": 4} -- hope that helps',
    ],
)
def test_answers_are_found_in_chatter_and_fences(text: str) -> None:
    assert parse_answer(text, EduScore).score == 4


@pytest.mark.parametrize(
    "text,problem",
    [
        ('{"reason": "great", "score": 10}', "less than or equal to 5"),
        ('{"reason": "great", "score": 10346}', "less than or equal to 5"),
        ('{"reason": "meh", "score": -1}', "greater than or equal to 0"),
        ('{"reason": "no score"}', "score"),
        ("Educational score: 3", "no JSON object"),
    ],
)
def test_invalid_answers_say_why(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_answer(text, EduScore)


def test_extract_json_takes_the_first_object() -> None:
    assert extract_json('noise {"a": 1} {"b": 2}') == {"a": 1}
