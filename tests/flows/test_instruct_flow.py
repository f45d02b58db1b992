"""Instruction and preference data end to end: the real embedded model through every step, TRL trains on
what comes out; a killed step asks again exactly the requests never answered; Magpie's clear errors."""

from __future__ import annotations

import hashlib
import json
import random
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

from curators.instruct.config import (
    InstructConfig,
    InstructionsConfig,
    PreferencesConfig,
    ResponsesConfig,
    SelfInstructConfig,
)
from curators.instruct.instructions import InstructionRun, SelfInstructStage
from curators.instruct.judge import ASPECTS, JudgeRun, JudgeStage
from curators.instruct.preferences import PreferenceRun, PreferenceStage
from curators.instruct.responses import ResponseRun, ResponseStage
from curators.llm.cache import ResponseCache
from curators.llm.config import LLMConfig
from curators.llm.gateway import Endpoint
from curators.llm.local_server import TEST_MODEL
from curators.llm.runner import run_stage
from flows.cli import main
from tests.curators.dedup.test_clusters import real_texts
from tests.fake_llm import FakeLLM, HeldLLM
from tests.flows.test_dedup_flow import ingest
from warehouse.catalog import query
from warehouse.shards import done_shards

VOCAB = [f"{a}{b}" for a in ("bor", "cal", "dem", "fin", "gal", "hex", "jun", "kel") for b in "aeiouy"]


def scripted(body: dict) -> str:
    """The fake model: distinct instructions, responses of varied length, ratings, and a judge that prefers the
    longer response in either order (so its pairwise verdicts never flip)."""
    messages = body["messages"]
    system = messages[0]["content"] if messages[0]["role"] == "system" else ""
    user = messages[-1]["content"]
    rng = random.Random(hashlib.sha256(json.dumps(messages).encode()).hexdigest())
    if "invent diverse tasks" in system:
        return json.dumps(
            {"instructions": [f"Explain {' '.join(rng.sample(VOCAB, 6))} to a student." for _ in range(4)]}
        )
    if "Rate the response" in user:
        return json.dumps({"rationale": "scripted", **{a: rng.randint(1, 5) for a in ASPECTS}})
    if "Which response follows" in user:
        a = re.search(r"<response_A>\n(.*?)\n</response_A>", user, re.S).group(1)
        b = re.search(r"<response_B>\n(.*?)\n</response_B>", user, re.S).group(1)
        return json.dumps({"reason": "scripted", "better": "A" if (len(a), a) >= (len(b), b) else "B"})
    return " ".join(rng.choices(VOCAB, k=rng.randint(5, 60))) + "."


LLM = LLMConfig(concurrency=2, backoff_s=0.01)
CONFIG = InstructConfig(
    instructions=InstructionsConfig(n=24, self_instruct=SelfInstructConfig(per_request=4, rounds=2)),
    responses=ResponsesConfig(per_instruction=3),
    preferences=PreferencesConfig(batch=4, min_margin=0.25),
)
PREFERENCES = PreferenceRun(preferences=CONFIG.preferences, model="fake-model", ratings_digest="scripted")
ANSWERED = 13  # odd: the kill lands with a pair asked in one order only

CHILD = """
import sys
from pathlib import Path
from curators.config import LLMConfig
from curators.llm.gateway import Endpoint
from curators.llm.runner import run_stage
from curators.instruct.preferences import PreferenceRun, PreferenceStage
root, base_url, run, llm = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
run = PreferenceRun.model_validate_json(run)
run_stage(root, "prefs", PreferenceStage(root, "prefs", run, "fake-model"), LLMConfig.model_validate_json(llm),
          Endpoint(base_url, "fake-model"))
"""


def rated_warehouse(root: Path) -> None:
    """Instructions (two Self-Instruct rounds), three responses each, and their ratings, from the fake."""
    with FakeLLM(answer=scripted) as fake:
        endpoint = Endpoint(fake.base_url, "fake-model")
        run = InstructionRun(method="self-instruct", instructions=CONFIG.instructions, model="fake-model")
        for round in range(2):
            run_stage(root, "si", SelfInstructStage(root, "si", run, "fake-model", round=round), LLM, endpoint)
        responses = ResponseRun(responses=CONFIG.responses, model="fake-model", instructions_digest="scripted")
        run_stage(root, "resp", ResponseStage(root, "resp", responses, "fake-model"), LLM, endpoint)
        judge = JudgeRun(judge=CONFIG.judge, model="fake-model", responses_digest="scripted")
        run_stage(root, "judge", JudgeStage(root, "judge", judge, "fake-model"), LLM, endpoint)


def votes(root: Path) -> list[tuple]:
    _, rows = query(
        root,
        "SELECT pair_id, chosen_first, rejected_first, swap_consistent, agrees, status FROM pair_votes_all ORDER BY 1",
    )
    return rows


def test_a_killed_preferences_run_asks_again_exactly_the_unanswered_requests(tmp_path: Path, data_root: Path) -> None:
    reference = tmp_path / "uninterrupted"
    rated_warehouse(reference)
    with FakeLLM(answer=scripted) as fake:
        run_stage(
            reference,
            "prefs",
            PreferenceStage(reference, "prefs", PREFERENCES, "fake-model"),
            LLM,
            Endpoint(fake.base_url, "fake-model"),
        )
    _, rounds = query(reference, "SELECT round, count(*) FILTER (WHERE status = 'ok') FROM instructions GROUP BY 1")
    assert sorted(rounds) == [(0, 12), (1, 12)]  # round 1 was asked with round 0's instructions as examples
    _, pairs = query(reference, "SELECT count(*) FROM preference_pairs_all WHERE status = 'candidate'")
    n_requests = 2 * pairs[0][0]
    assert n_requests > 3 * 8  # more than three batches of 4 pairs

    rated_warehouse(data_root)
    cached_before = len(ResponseCache(data_root))
    with HeldLLM(answer=ANSWERED) as fake:
        fake.answer_of = scripted
        args = [str(data_root), fake.base_url, PREFERENCES.model_dump_json(), LLM.model_dump_json()]
        child = subprocess.Popen([sys.executable, "-c", CHILD, *args])
        done_at_kill = fake.kill_when_held(child, data_root, "pair_votes", cached_before=cached_before)
        assert 0 < done_at_kill < n_requests // 8  # mid-stage: some batches written, not all
        assert len(fake.paid) == ANSWERED == len(ResponseCache(data_root)) - cached_before
        fake.open = True
        fake.release.set()
        summary = run_stage(
            data_root,
            "prefs",
            PreferenceStage(data_root, "prefs", PREFERENCES, "fake-model"),
            LLM,
            Endpoint(fake.base_url, "fake-model"),
        )
    before, after = fake.paid[:ANSWERED], fake.paid[ANSWERED:]
    # Exactly the requests never answered are asked: none twice, none forgotten, the half-asked pair included.
    assert len(after) == summary.http_requests == n_requests - ANSWERED
    assert not set(after) & set(before) and len(set(fake.paid)) == n_requests
    # Nothing lost, nothing doubled: the votes of the uninterrupted run, every pair once.
    assert votes(data_root) == votes(reference)
    assert len(done_shards(data_root, "pair_votes")) == -(-pairs[0][0] // 4)
    # The scripted judge prefers the longer response in both orders: consistent, so no pair flipped.
    assert {r[3] for r in votes(data_root)} == {True}


def test_judging_responses_that_were_all_cut_says_why_and_what_to_raise(data_root: Path) -> None:
    from curators.errors import NothingToDo
    from curators.settings import Settings
    from flows.instruct import judge_flow

    def a_response(body: dict) -> bool:
        return "invent diverse tasks" not in body["messages"][0]["content"] and "Rate the" not in str(body)

    with FakeLLM(answer=scripted, cut=a_response) as fake:
        endpoint = Endpoint(fake.base_url, "fake-model")
        run = InstructionRun(method="self-instruct", instructions=CONFIG.instructions, model="fake-model")
        run_stage(data_root, "si", SelfInstructStage(data_root, "si", run, "fake-model"), LLM, endpoint)
        responses = ResponseRun(responses=CONFIG.responses, model="fake-model", instructions_digest="scripted")
        run_stage(data_root, "resp", ResponseStage(data_root, "resp", responses, "fake-model"), LLM, endpoint)
        settings = Settings(llm_base_url=fake.base_url, llm_model="fake-model")
        with pytest.raises(NothingToDo, match=r"none of the 36 responses is usable \(truncated 36\)") as raised:
            judge_flow(str(data_root), CONFIG, LLM, settings)
    assert "instruct.responses.max_tokens (now 512)" in raised.value.hint
    assert not [b for b in fake.bodies if "Rate the response" in b["messages"][-1]["content"]]  # nothing asked


def test_magpie_needs_a_template_for_a_remote_model_and_text_completions(data_root: Path) -> None:
    from curators.errors import ConfigError, CurateError
    from curators.settings import Settings
    from flows.instruct import instructions_flow

    config = InstructConfig(instructions=InstructionsConfig(n=3))
    with FakeLLM(answer=scripted) as fake:
        settings = Settings(llm_base_url=fake.base_url, llm_model="fake-chat-model")
        with pytest.raises(ConfigError, match="chat template of fake-chat-model"):
            instructions_flow(str(data_root), "magpie", config, LLM, settings=settings)
        chatml = (
            "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        )
        config.instructions.magpie.chat_template = chatml
        with pytest.raises(CurateError, match=r"no text completions \(/v1/completions\)") as raised:
            instructions_flow(str(data_root), "magpie", config, LLM, settings=settings)
        assert "--method" in raised.value.hint
        asked = [b for b in fake.bodies if "prompt" in b]
        assert len(asked) == 3 and asked[0]["prompt"].endswith("<|im_start|>user\n")
    # Each request failed with its reason, and nothing was paid: a rerun on a good endpoint asks again.
    _, rows = query(data_root, "SELECT status, count(*) FROM instructions GROUP BY 1")
    assert rows == [("failed", 3)]


def test_responses_from_several_models_and_endpoints_are_each_tagged_with_their_model(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from curators.settings import Settings
    from flows.instruct import responses_flow

    monkeypatch.setenv("OTHER_ENDPOINT_KEY", "sk-other-endpoint-0123456789")
    monkeypatch.setenv("CURATE_LLM_API_KEY", "sk-main-endpoint-0123456789")  # the configured endpoint's
    with FakeLLM(answer=scripted) as fake, FakeLLM(answer=scripted) as other:
        run = InstructionRun(method="self-instruct", instructions=CONFIG.instructions, model="fake-model")
        stage = SelfInstructStage(data_root, "si", run, "fake-model")
        run_stage(data_root, "si", stage, LLM, Endpoint(fake.base_url, "fake-model"))
        models = [
            "model-a",
            "model-b",
            {"model": "model-c", "base_url": other.base_url, "api_key_env": "OTHER_ENDPOINT_KEY"},
        ]
        responses = ResponsesConfig.model_validate({"per_instruction": 3, "models": models, "max_instructions": 5})
        settings = Settings(llm_base_url=fake.base_url, llm_model="fake-model")
        fake.auth.clear()
        summary = responses_flow(str(data_root), CONFIG.model_copy(update={"responses": responses}), LLM, settings)
        keys_main = set(fake.auth)
        asked = Counter(b["model"] for b in fake.bodies if b["model"] != "fake-model")
        asked_other = Counter(b["model"] for b in other.bodies)
        keys_other = set(other.auth)

        # An endpoint of its own that names no key variable is sent no key at all (not the configured one's).
        other.auth.clear()
        keyless = [{"model": "model-d", "base_url": other.base_url}]
        responses_d = ResponsesConfig.model_validate({"per_instruction": 1, "models": keyless, "max_instructions": 2})
        responses_flow(str(data_root), CONFIG.model_copy(update={"responses": responses_d}), LLM, settings)
        keys_keyless = set(other.auth)

        # A key named but not set: a clear error before anything is asked.
        monkeypatch.delenv("OTHER_ENDPOINT_KEY")
        with pytest.raises(Exception, match="OTHER_ENDPOINT_KEY, which is not set"):
            responses_flow(str(data_root), CONFIG.model_copy(update={"responses": responses}), LLM, settings, True)
    assert summary.by_status == {"ok": 15} and summary.model == "model-a, model-b, model-c"
    sql = "SELECT model, principle, count(*) FROM responses WHERE model <> 'model-d' GROUP BY 1, 2 ORDER BY 1, 2"
    _, rows = query(data_root, sql)
    # Response k by model k mod 3, principle k: each model answers each instruction once, under its principle.
    assert rows == [("model-a", "helpfulness", 5), ("model-b", "honesty", 5), ("model-c", "truthfulness", 5)]
    assert asked == {"model-a": 5, "model-b": 5} and asked_other == {"model-c": 5}
    # Each endpoint is sent its own key only: the configured one's never leaves for the other endpoint.
    assert keys_other == {"Bearer sk-other-endpoint-0123456789"}
    assert keys_main == {"Bearer sk-main-endpoint-0123456789"}
    assert keys_keyless == {"Bearer not-needed"}
    _, stored = query(data_root, "SELECT count(*) FROM runs WHERE config::VARCHAR LIKE '%sk-other%'")
    assert stored == [(0,)]  # the key itself is never stored, only the name of its variable


@pytest.mark.slow
def test_the_embedded_model_through_every_step_writes_sft_rows_that_trl_trains_on(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    corpus = tmp_path / "notes.jsonl"
    corpus.write_text("".join(json.dumps({"name": f"n{i}", "text": t}) + "\n" for i, t in enumerate(real_texts(3))))
    ingest(data_root, corpus, "notes")
    config = tmp_path / "curate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "llm": {"local_model": TEST_MODEL},
                "instruct": {
                    "instructions": {"grounded": {"per_document": 2}},
                    # SmolLM2-135M ended 7 of 8 answers within 400 tokens (132-566); at 200, all 8 were once cut.
                    "responses": {"per_instruction": 2, "max_tokens": 400, "max_instructions": 3},
                    "judge": {"max_tokens": 200},
                },
            }
        )
    )
    cli = ["-c", str(config), "-d", str(data_root), "synth"]
    # Self-Instruct and Evol share these paths (JSON lists, free text) and are tested on the fake endpoint;
    # the benchmarks run them on the default model.
    for method, n in (("magpie", 4), ("grounded", 2)):
        assert main([*cli, "instructions", "--method", method, "--n", str(n), "--no-gates"]) == 0
    assert main([*cli, "gates"]) == 0
    _, methods = query(data_root, "SELECT method, count(*) FILTER (WHERE usable) FROM instruction_pool GROUP BY 1")
    # SmolLM2-135M is a poor writer: both methods wrote rows, and some of them are usable.
    assert {m for m, _ in methods} == {"magpie", "grounded"} and sum(n for _, n in methods) >= 3
    # Every request ended as rows with a status, every drop with its reason.
    _, rows = query(data_root, "SELECT count(*) FILTER (WHERE status <> 'ok' AND reason IS NULL) FROM instructions")
    assert rows == [(0,)]
    _, grounded = query(
        data_root, "SELECT count(*) FROM instructions i JOIN docs d ON d.id = i.seed_id WHERE method = 'grounded'"
    )
    assert grounded[0][0] >= 2  # seeded by the documents' ids

    assert main([*cli, "responses", "--no-gates"]) == 0
    assert main([*cli, "judge"]) == 0
    assert main([*cli, "preferences"]) == 0
    _, rated = query(data_root, "SELECT count(*), count(*) FILTER (WHERE status = 'ok'), count(raw) FROM ratings")
    total, ok, raw = rated[0]
    assert total and total == ok + raw  # every rating valid, or invalid with the judge's raw answer
    # Every rated instruction is a pair or says why not (SmolLM2 rates its answers alike: mostly ties).
    _, pairs = query(
        data_root,
        "SELECT count(DISTINCT instruction_id), (SELECT count(*) FROM preferences WHERE reason IS NULL AND "
        "status <> 'ok') FROM ratings",
    )
    _, in_pairs = query(data_root, "SELECT count(*) FROM preferences")
    assert in_pairs[0][0] == pairs[0][0] and pairs[0][1] == 0

    out = tmp_path / "export"
    assert main(["-c", str(config), "-d", str(data_root), "export", str(out), "--config", "sft"]) == 0

    import datasets
    from trl.data_utils import is_conversational

    from tests.trl_tiny import all_finite, train_sft

    sft = datasets.load_dataset(str(out), "sft", split="train")
    _, best = query(data_root, "SELECT count(*) FROM sft")
    assert sft.num_rows == best[0][0] >= 1 and is_conversational(sft[0])
    assert [m["role"] for m in sft[0]["messages"]] == ["user", "assistant"]
    trained = train_sft(list(sft), tmp_path / "sft", steps=3)
    assert trained["losses"] and all_finite(trained["losses"])


def test_dpo_pairs_confirmed_in_both_orders_export_and_train_with_trl(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The preference stage on a judge that rates apart (the scripted endpoint: the embedded SmolLM2 rates its
    own answers alike, so its pairs are ties), through the flow, the `dpo` view, the export and DPOTrainer."""
    from curators.settings import Settings
    from flows.instruct import preferences_flow

    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    rated_warehouse(data_root)
    with FakeLLM(answer=scripted) as fake:
        settings = Settings(llm_base_url=fake.base_url, llm_model="fake-model")
        summary = preferences_flow(str(data_root), CONFIG, LLM, settings=settings)
    _, by_status = query(data_root, "SELECT status, count(*) FROM preferences GROUP BY 1")
    statuses = dict(by_status)
    # The scripted judge prefers the longer response in both orders: consistent, but against the ratings
    # whenever the better-rated one is shorter (`contradicted`, left out of `dpo`).
    assert statuses["ok"] == summary.ok >= 8 and statuses["contradicted"] == summary.by_status["contradicted"] >= 1
    assert set(statuses) <= {"ok", "contradicted", "tie", "too_few_ratings"}
    _, dpo_rows = query(data_root, "SELECT count(*), min(margin), bool_and(swap_consistent) FROM dpo")
    assert dpo_rows == [(statuses["ok"], dpo_rows[0][1], True)] and dpo_rows[0][1] >= 0.25

    out = tmp_path / "export"
    assert main(["-d", str(data_root), "export", str(out), "--config", "dpo", "--tokenizer", "none"]) == 0

    import datasets
    from trl.data_utils import is_conversational

    from tests.trl_tiny import all_finite, train_dpo

    dpo = datasets.load_dataset(str(out), "dpo", split="train")
    assert dpo.num_rows == statuses["ok"] and is_conversational(dpo[0])
    assert [m["role"] for m in dpo[0]["prompt"]] == ["user"] and dpo[0]["chosen"][0]["role"] == "assistant"
    assert dpo[0]["chosen"] != dpo[0]["rejected"] and dpo[0]["margin"] > 0
    trained = train_dpo(list(dpo), tmp_path / "dpo", steps=3)
    assert trained["losses"] and all_finite(trained["losses"]) and all_finite(trained["rewards/margins"])
