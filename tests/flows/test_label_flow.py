from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from curators.config import IngestConfig, LabelConfig, LLMConfig, SourceSpec
from curators.ingest.plan import stdlib_dir
from curators.llm.local_server import TEST_MODEL
from flows.ingest import ingest_flow
from flows.label import label_flow
from warehouse.catalog import query

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]

# Forty real standard-library modules, not the whole library: each label run draws its diverse sample by
# embedding its pool of candidates (up to 1,000 documents, ~100 ms each on 2 cores), twice in this test.
CORPUS_FILES = 40


def test_label_flow_with_the_embedded_server_then_a_rerun_pays_nothing(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURATE_MODEL_CACHE", str(tmp_path / "models"))
    code = tmp_path / "code"
    code.mkdir()
    for path in sorted(stdlib_dir().glob("*.py"))[:CORPUS_FILES]:
        shutil.copy(path, code / path.name)
    ingest_flow(str(data_root), IngestConfig(sources=[SourceSpec(path=str(code))]))
    llm = LLMConfig(local_model=TEST_MODEL)
    config = LabelConfig(n=4, max_doc_tokens=64, batch=2)  # documents cut short: quick prompts

    first = label_flow(str(data_root), config, llm)
    assert first.requested == 4 and first.ok + first.invalid + first.failed == 4
    assert first.http_requests >= 4 and first.tokens_in > 0
    _, rows = query(data_root, "SELECT prompt_id, model, count(*) FROM labels GROUP BY ALL")
    assert rows[0][0].startswith("edu-code@v1:") and rows[0][1] == TEST_MODEL and rows[0][2] == 4
    _, (row,) = query(data_root, "SELECT sum(tokens_in), sum(tokens_out) FROM labels")
    assert row == (first.tokens_in, first.tokens_out)  # usage reconciles with the rows

    again = label_flow(str(data_root), config, llm)  # same run, all batches done: no server, no request
    assert again.run_id == first.run_id and again.http_requests == 0 and again.batches_skipped == 2

    fresh = label_flow(str(data_root), config, llm, fresh=True)  # a new run: answered from the cache
    assert fresh.run_id != first.run_id and fresh.http_requests == 0 and fresh.cache_hits == 4
    _, rows = query(data_root, "SELECT count(*) FROM labels WHERE cached")
    assert rows == [(4,)]
