from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from curators.config import IngestConfig, LabelConfig, LLMConfig, SourceSpec
from curators.filter.label import label_sample, sample_for_run, truncate
from curators.ingest.plan import plan_units
from curators.ingest.store import ingest_unit
from curators.llm.cache import ResponseCache
from curators.llm.gateway import Endpoint
from tests.corpus import prose, write_jsonl
from tests.fake_llm import FakeLLM, HeldLLM
from warehouse.catalog import query, refresh_views
from warehouse.runs import open_run
from warehouse.shards import done_shards

N_DOCS = 40


def ingest_corpus(root: Path, tmp_path: Path) -> Path:
    """N_DOCS distinct documents and one exact duplicate, from the same file whatever the root."""
    path = tmp_path / "docs.jsonl"
    lines = [json.dumps({"text": prose(i, 60)}).encode() for i in range(N_DOCS)]
    lines += [json.dumps({"text": prose(0, 60)}).encode()]  # an exact duplicate: never labelled twice
    write_jsonl(path, lines)
    config = IngestConfig(sources=[SourceSpec(path=str(path), name="docs")])
    with open_run(root, "ingest", config) as run:
        for unit in plan_units(config).units:
            ingest_unit(unit, root, run.run_id, config)
    return root


@pytest.fixture
def corpus_root(tmp_path: Path, data_root: Path) -> Path:
    return ingest_corpus(data_root, tmp_path)


def test_the_sample_skips_exact_duplicates_and_is_stored_for_resume(corpus_root: Path) -> None:
    config = LabelConfig(n=100, strategy="random", seed=1)
    first = [it.id for it in sample_for_run(corpus_root, "r1", config, None)]
    assert len(first) == len(set(first)) == N_DOCS  # the duplicate text is not chosen twice
    again = [it.id for it in sample_for_run(corpus_root, "r1", config.model_copy(update={"seed": 7}), None)]
    assert again == first  # read back from label_sample, not drawn again
    other = [it.id for it in sample_for_run(corpus_root, "r2", config.model_copy(update={"seed": 2}), None)]
    assert sorted(other) == sorted(first) and other != first


def test_truncation_is_recorded() -> None:
    text = "line\n" * 1000
    cut, truncated = truncate(text, max_tokens=100)
    assert truncated and len(cut) <= 400 and cut.endswith("line")
    assert truncate("short", 100) == ("short", False)


KILL_CONFIG = LabelConfig(n=100, strategy="random", batch=4)  # 10 batches of 4 documents
KILL_LLM = LLMConfig(concurrency=2, backoff_s=0.01)
ANSWERED = 18  # answers the endpoint gives before it holds every request, until the child is killed

CHILD = """
import sys
from pathlib import Path
from curators.config import LabelConfig, LLMConfig
from curators.filter.label import label_sample
from curators.llm.gateway import Endpoint
root, base_url, label, llm = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
label_sample(root, "label-run", LabelConfig.model_validate_json(label), LLMConfig.model_validate_json(llm),
             Endpoint(base_url, "fake-model"))
"""


def label_rows(root: Path) -> list[tuple]:
    """The labels, less the columns that say which call paid for them (`cached`, usage, attempts, run)."""
    _, rows = query(
        root,
        "SELECT id, prompt_id, model, score, rationale, raw, status, error, truncated, chars_sent, cache_key "
        "FROM labels ORDER BY id",
    )
    return rows


def test_a_killed_label_stage_reruns_only_what_is_missing(tmp_path: Path, corpus_root: Path) -> None:
    reference = ingest_corpus(tmp_path / "uninterrupted", tmp_path)
    with FakeLLM() as fake:
        label_sample(reference, "label-run", KILL_CONFIG, KILL_LLM, Endpoint(fake.base_url, "fake-model"))

    with HeldLLM(answer=ANSWERED) as fake:
        args = [str(corpus_root), fake.base_url, KILL_CONFIG.model_dump_json(), KILL_LLM.model_dump_json()]
        child = subprocess.Popen([sys.executable, "-c", CHILD, *args])
        done_at_kill = fake.kill_when_held(child, corpus_root, "labels")
        # The kill landed mid-stage: some batches written, not all, and no answer beyond those journaled.
        assert 0 < done_at_kill <= len(done_shards(corpus_root, "labels")) < N_DOCS // 4
        assert len(fake.paid) == len(ResponseCache(corpus_root)) == ANSWERED

        fake.open = True
        fake.release.set()
        summary = label_sample(corpus_root, "label-run", KILL_CONFIG, KILL_LLM, Endpoint(fake.base_url, "fake-model"))
    before, after = fake.paid[:ANSWERED], fake.paid[ANSWERED:]
    # Only what was never answered is asked: no paid request is repeated, each document is paid once.
    assert len(after) == summary.http_requests == N_DOCS - ANSWERED
    assert not set(after) & set(before) and len(set(fake.paid)) == N_DOCS
    assert summary.cache_hits == ANSWERED - 4 * summary.batches_skipped and summary.ok == N_DOCS
    # Nothing lost, nothing doubled: the rows of the uninterrupted run.
    _, rows = query(corpus_root, "SELECT count(*), count(DISTINCT id) FROM labels_all")
    assert rows == [(N_DOCS, N_DOCS)]
    assert label_rows(corpus_root) == label_rows(reference)
    # The response cache is queryable too: one paid answer per document.
    _, rows = query(corpus_root, "SELECT count(*), count(DISTINCT key), sum(tokens_in) FROM llm_responses")
    assert rows == [(N_DOCS, N_DOCS, 50 * N_DOCS)]


def test_failures_stay_failures_with_a_reason(corpus_root: Path) -> None:
    with FakeLLM() as fake:
        summary = label_sample(
            corpus_root,
            "r",
            LabelConfig(n=5, batch=2),
            LLMConfig(max_attempts=2, backoff_s=0.01),
            Endpoint(fake.base_url.replace(str(fake.port), "1"), "fake-model"),
        )  # nothing listens on port 1
    assert summary.failed == 5 and summary.ok == 0
    _, rows = query(corpus_root, "SELECT score, status, error FROM labels")
    assert all(score is None and status == "failed" and "connection error" in error for score, status, error in rows)


def test_a_top_up_round_labels_the_documents_the_filter_is_least_sure_about(tmp_path: Path, data_root: Path) -> None:
    from curators.config import EmbedConfig, FilterConfig
    from curators.filter.store import train_and_register
    from tests.realtext import build_labelled_warehouse

    build_labelled_warehouse(data_root, tmp_path)
    # More documents, not yet labelled: code files of the standard library.
    extra = tmp_path / "more.jsonl"
    from curators.ingest.plan import stdlib_dir

    files = sorted(stdlib_dir().glob("*.py"))[:30]
    write_jsonl(extra, [json.dumps({"text": p.read_text(encoding="utf-8")[:2000]}).encode() for p in files])
    config = IngestConfig(sources=[SourceSpec(path=str(extra), name="more")])
    with open_run(data_root, "ingest", config) as run:
        for unit in plan_units(config).units:
            ingest_unit(unit, data_root, run.run_id, config)
    card = train_and_register(data_root, "train-1", FilterConfig(n_estimators=50), EmbedConfig())
    refresh_views(data_root)
    labelled_before = {r[0] for r in query(data_root, "SELECT id FROM labels")[1]}

    with FakeLLM() as fake:
        summary = label_sample(data_root, "topup-1", LabelConfig(more=5), LLMConfig(), Endpoint(fake.base_url, "m"))
    assert summary.requested == summary.ok == 5
    _, rows = query(data_root, "SELECT id, reason, strategy, proba FROM label_sample WHERE run_id = 'topup-1'")
    assert len(rows) == 5 and all(r[1] == "uncertain" and r[2] == "uncertain" and 0 <= r[3] <= 1 for r in rows)
    assert not {r[0] for r in rows} & labelled_before  # only documents without a label
    # They are the five the filter is least sure about among all unlabelled documents.
    from curators.filter.forest import load_filter
    from curators.filter.store import vectors_for

    _, unlabelled = query(
        data_root, "SELECT id, text FROM docs WHERE id NOT IN (SELECT unnest(?))", [sorted(labelled_before)]
    )
    X = vectors_for(data_root, EmbedConfig(), [u[0] for u in unlabelled], [u[1] for u in unlabelled])
    _, proba = load_filter(data_root / "filters" / card["filter_id"]).predict(X)
    margins = sorted(abs(p - 0.5) for p in proba)
    assert sorted(abs(r[3] - 0.5) for r in rows) == pytest.approx(margins[:5], abs=1e-6)
