from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pytest

from curators.config import ExercisesConfig, LLMConfig, SeedConfig, TextbookConfig
from curators.llm.cache import ResponseCache
from curators.llm.gateway import Endpoint, LLMResult
from curators.llm.prompts import load_prompt
from curators.synth.axes import load_axes
from curators.synth.exercises import exercise_rows, exercises_request
from curators.synth.seeds import Seed, sample_seeds
from curators.synth.store import plan_seeds
from curators.synth.textbooks import TextbookRun, generate_textbooks, strip_opening, textbook_request, textbook_row
from tests.fake_llm import FakeLLM, HeldLLM
from warehouse.catalog import query
from warehouse.schemas import GENERATIONS
from warehouse.shards import done_shards


def result(raw: str | None, status: str = "ok", finish: str | None = "stop", parsed: dict | None = None) -> LLMResult:
    return LLMResult(
        item_id="x",
        key="k" * 64,
        status=status,
        parsed=parsed,
        raw=raw,
        error=None if status == "ok" else "the answer did not validate",
        model="m",
        prompt_id="textbook@v1:00000000",
        attempts=1,
        reasks=0,
        tokens_in=100,
        tokens_out=50,
        cost_usd=0.003,
        finish_reason=finish,
    )


SEED = Seed(
    kind="taxonomy",
    subject="Computer science",
    topic="Algorithms",
    subtopic="binary search on sorted arrays",
    audience="college",
    style="worked_problems",
    persona="a night-shift nurse learning to code",
    vocabulary=("lantern", "whisper", "brave"),
)
BODY = "Binary search halves the search interval at every step. " * 20


@pytest.mark.parametrize(
    ("raw", "removed"),
    [
        ("Sure! Here is a chapter about binary search.\n\n" + BODY, "Sure! Here is a chapter about binary search."),
        ("Here's a blog post for you:\n" + BODY, "Here's a blog post for you:"),
        ("Title: Binary Search\n\n" + BODY, "Title: Binary Search"),
        ("Once upon a time, " + BODY.lower(), "Once upon a time,"),
        ("Certainly!\nTitle: Search\n\n" + BODY, "Certainly! | Title: Search"),
        ("I'm ready to assist you with this task. " + BODY, "I'm ready to assist you with this task."),
    ],
)
def test_boilerplate_openings_are_stripped_and_recorded(raw: str, removed: str) -> None:
    text, stripped = strip_opening(raw)
    assert stripped == removed
    assert text.startswith("Binary search halves")


def test_a_plain_opening_is_left_alone() -> None:
    assert strip_opening(BODY) == (BODY.strip(), None)
    # "Sure" inside a sentence is content, not chatter
    assert strip_opening("Surely the interval shrinks.") == ("Surely the interval shrinks.", None)


def test_every_outcome_is_a_status_with_a_reason_and_fits_the_schema() -> None:
    config = TextbookConfig(min_chars=300)
    params = {"max_tokens": 900}
    ok = textbook_row(result("Sure! Here it is.\n\n" + BODY), SEED, config, "run", params)
    assert ok["status"] == "ok" and ok["text"].startswith("Binary") and ok["stripped_opening"] == "Sure! Here it is."
    assert ok["seed_id"] == SEED.seed_id and ok["tokens_out"] == 50 and ok["cost_usd"] == 0.003
    short = textbook_row(result("Too short."), SEED, config, "run", params)
    assert short["status"] == "too_short" and short["text"] == "" and "min_chars 300" in short["reason"]
    cut = textbook_row(result(BODY, finish="length"), SEED, config, "run", params)
    assert cut["status"] == "truncated" and cut["text"] == "" and "900 tokens" in cut["reason"]
    failed = textbook_row(result(None, status="failed"), SEED, config, "run", params)
    assert failed["status"] == "failed" and failed["reason"]
    # The same seed, prompt and model always give the same id (a rerun overwrites nothing new).
    assert ok["id"] == short["id"] == textbook_row(result(BODY), SEED, config, "other-run", params)["id"]
    table = pa.Table.from_pylist([ok, short, cut, failed], schema=GENERATIONS)
    assert table.num_rows == 4


def test_a_cut_generation_can_be_trimmed_to_its_last_sentence_instead() -> None:
    config = TextbookConfig(min_chars=100, trim_truncated=True)
    raw = BODY + "And then the interval of the sea"
    row = textbook_row(result(raw, finish="length"), SEED, config, "run", {"max_tokens": 900})
    assert row["status"] == "ok" and row["text"] == BODY.strip() and "trimmed" in row["reason"]
    tiny = textbook_row(result("A cut", finish="length"), SEED, config, "run", {"max_tokens": 9})
    assert tiny["status"] == "too_short"


def test_textbook_prompts_carry_every_seed_axis() -> None:
    axes = load_axes()
    request = textbook_request(SEED, axes, load_prompt("textbook"), TextbookConfig(max_tokens=123))
    user = request.messages[-1]["content"]
    for value in (
        "binary search on sorted arrays",
        "Algorithms",
        axes.audiences["college"].instructions[:40],
        axes.styles["worked_problems"].instructions[:40],
        "night-shift nurse",
        "lantern, whisper, brave",
    ):
        assert value in user
    assert request.params["max_tokens"] == 123 and request.accept_cut
    # Different axis values change the prompt beyond one word: format and content instructions differ.
    other = textbook_request(
        Seed(
            **{**SEED.content(), "vocabulary": tuple(SEED.vocabulary), "audience": "young_children", "style": "story"}
        ),
        axes,
        load_prompt("textbook"),
        TextbookConfig(),
    )
    changed = set(other.messages[-1]["content"].split()) ^ set(user.split())
    assert len(changed) > 40


def test_exercises_link_to_their_textbook_and_programming_asks_for_functions() -> None:
    textbook = {"id": "t1", "seed_id": SEED.seed_id, "text": BODY}
    request = exercises_request(textbook, SEED, load_prompt("exercises"), ExercisesConfig(per_textbook=2))
    assert "signature" in request.messages[-1]["content"] and "Python function" in request.messages[-1]["content"]
    parsed = {
        "exercises": [
            {
                "question": "Find 7.",
                "solution": "def find(xs, x): ...",
                "signature": "def find(xs: list[int], x: int) -> int:",
                "docstring": "Index of x.",
            },
            {"question": "Why log n?", "solution": "Each step halves the interval.", "signature": "", "docstring": ""},
        ]
    }
    rows = exercise_rows(result("{}", parsed=parsed), textbook, "run", {"max_tokens": 10})
    assert [r["parent_id"] for r in rows] == ["t1", "t1"] and all(r["task"] == "exercise" for r in rows)
    assert (
        rows[0]["text"].startswith("Exercise: Find 7.") and "def find(xs: list[int], x: int) -> int:" in rows[0]["text"]
    )
    assert json.loads(rows[1]["meta"])["index"] == 1 and len({r["id"] for r in rows}) == 2
    assert sum(r["tokens_out"] for r in rows) == 50  # the request's usage, spread over its exercises
    bad = exercise_rows(result("not json", status="invalid"), textbook, "run", {})
    assert len(bad) == 1 and bad[0]["status"] == "invalid" and bad[0]["reason"]
    assert pa.Table.from_pylist(rows + bad, schema=GENERATIONS).num_rows == 3


def test_seeds_are_drawn_once_per_run_and_read_back(tmp_path: Path) -> None:
    config = SeedConfig(n=12, seed=5)
    first = plan_seeds(tmp_path, "run-1", config)
    assert [s.seed_id for s in first] == [s.seed_id for s in sample_seeds(config, load_axes())]
    # On resume the stored seeds are used even if the axes would now draw differently.
    again = plan_seeds(tmp_path, "run-1", SeedConfig(n=12, seed=99))
    assert [s.seed_id for s in again] == [s.seed_id for s in first]


N_SEEDS = 40
KILL_RUN = TextbookRun(  # 10 batches of 4 seeds
    seeds=SeedConfig(n=N_SEEDS, seed=1), textbook=TextbookConfig(min_chars=10, batch=4), model="fake-model"
)
KILL_LLM = LLMConfig(concurrency=2, backoff_s=0.01)
ANSWERED = 18  # answers the endpoint gives before it holds every request, until the child is killed

CHILD = """
import sys
from pathlib import Path
from curators.config import LLMConfig
from curators.llm.gateway import Endpoint
from curators.synth.textbooks import TextbookRun, generate_textbooks
root, base_url, run, llm = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
generate_textbooks(root, "synth-run", TextbookRun.model_validate_json(run), LLMConfig.model_validate_json(llm),
                   Endpoint(base_url, "fake-model"))
"""


def generation_rows(root: Path) -> list[tuple]:
    """The textbooks, less the columns that say which call paid for them (`cached`, usage)."""
    _, rows = query(
        root,
        "SELECT id, task, seed_id, parent_id, prompt_id, model, params, text, status, reason, stripped_opening, "
        "meta, n_chars, cache_key, run_id FROM generations ORDER BY id",
    )
    return rows


def test_a_killed_textbook_run_reruns_only_what_is_missing(tmp_path: Path, data_root: Path) -> None:
    reference = tmp_path / "uninterrupted"
    with FakeLLM() as fake:
        generate_textbooks(reference, "synth-run", KILL_RUN, KILL_LLM, Endpoint(fake.base_url, "fake-model"))

    with HeldLLM(answer=ANSWERED) as fake:
        args = [str(data_root), fake.base_url, KILL_RUN.model_dump_json(), KILL_LLM.model_dump_json()]
        child = subprocess.Popen([sys.executable, "-c", CHILD, *args])
        done_at_kill = fake.kill_when_held(child, data_root, "generations")
        # The kill landed mid-stage: some batches written, not all, and no answer beyond those journaled.
        assert 0 < done_at_kill <= len(done_shards(data_root, "generations")) < N_SEEDS // 4
        assert len(fake.paid) == len(ResponseCache(data_root)) == ANSWERED

        fake.open = True
        fake.release.set()
        # The stored draw of seeds is read back; only the answers not yet paid for are asked.
        summary = generate_textbooks(data_root, "synth-run", KILL_RUN, KILL_LLM, Endpoint(fake.base_url, "fake-model"))
    before, after = fake.paid[:ANSWERED], fake.paid[ANSWERED:]
    # Only what was never answered is asked: no paid request is repeated, each seed is paid once.
    assert len(after) == summary.http_requests == N_SEEDS - ANSWERED
    assert not set(after) & set(before) and len(set(fake.paid)) == N_SEEDS
    assert summary.cache_hits == ANSWERED - 4 * summary.batches_skipped and summary.by_status == {"ok": N_SEEDS}
    # Nothing lost, nothing doubled: the rows of the uninterrupted run.
    _, rows = query(data_root, "SELECT count(*), count(DISTINCT id), count(DISTINCT seed_id) FROM generations_all")
    assert rows == [(N_SEEDS, N_SEEDS, N_SEEDS)]
    assert generation_rows(data_root) == generation_rows(reference)
    # The response cache is queryable too: one paid answer per seed.
    _, rows = query(data_root, "SELECT count(*), count(DISTINCT key), sum(tokens_in) FROM llm_responses")
    assert rows == [(N_SEEDS, N_SEEDS, 50 * N_SEEDS)]
