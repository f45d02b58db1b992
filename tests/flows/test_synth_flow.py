"""Seeds to scored, decontaminated, deduplicated generations, with the real embedded endpoint
(SmolLM2-135M under llama.cpp), the real embedder and filter, Prefect, DuckDB and Parquet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from curators.config import (
    DecontamConfig,
    DedupConfig,
    EmbedConfig,
    ExercisesConfig,
    FilterConfig,
    IngestConfig,
    LLMConfig,
    SeedConfig,
    SourceSpec,
    SynthConfig,
    TextbookConfig,
)
from curators.ingest.plan import plan_units
from curators.ingest.records import doc_id
from curators.ingest.store import ingest_unit
from curators.llm.local_server import TEST_MODEL
from curators.synth.store import plan_seeds
from flows.score import score_flow
from flows.synth import exercises_flow, gates_flow, textbooks_flow
from flows.train import train_flow
from tests.realtext import build_labelled_warehouse
from warehouse.catalog import query
from warehouse.runs import open_run

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]


def synthetic(root: Path) -> dict[str, dict]:
    columns, rows = query(root, "SELECT * FROM synthetic")
    return {r[0]: dict(zip(columns, r, strict=True)) for r in rows}


def ingest_jsonl(root: Path, path: Path, name: str) -> None:
    config = IngestConfig(sources=[SourceSpec(path=str(path), name=name, id_field="name")])
    with open_run(root, "ingest", config) as run:
        for unit in plan_units(config).units:
            ingest_unit(unit, root, run.run_id, config)


def test_seeds_to_scored_decontaminated_deduplicated_generations(tmp_path: Path, data_root: Path) -> None:
    build_labelled_warehouse(data_root, tmp_path)
    train_flow(str(data_root), FilterConfig(min_labels=20, n_estimators=50), EmbedConfig())
    llm = LLMConfig(local_model=TEST_MODEL, max_reasks=0)
    config = SynthConfig(
        seeds=SeedConfig(n=6, seed=3), textbook=TextbookConfig(max_tokens=200, min_chars=80, trim_truncated=True)
    )

    summary = textbooks_flow(str(data_root), config, llm)
    assert summary.requested == 6 and sum(summary.by_status.values()) == 6 and summary.http_requests == 6
    gates = gates_flow(str(data_root), config, DedupConfig(), DecontamConfig(), EmbedConfig())
    rows = synthetic(data_root)
    assert len(rows) == 6
    ok = sorted((r for r in rows.values() if r["status"] == "ok"), key=lambda r: r["id"])
    assert len(ok) >= 2, f"SmolLM2 wrote fewer than 2 usable textbooks: {[r['reason'] for r in rows.values()]}"
    # Every generation is traceable to its seed, and every seed axis is stored.
    _, seeds = query(data_root, "SELECT seed_id, subject, subtopic, audience, style, persona FROM seeds")
    assert len(seeds) == 6 and all(all(v for v in s) for s in seeds)
    assert {r["seed_id"] for r in rows.values()} == {s[0] for s in seeds}
    # Scored by the same filter as the corpus; checked for contamination; deduplicated against the corpus.
    assert gates.filter_id and gates.scored == 6 and all(r["score"] is not None for r in ok)
    assert gates.decontam.checked == len(ok) and gates.decontam.target == "generations"
    assert gates.dedup.documents == 6
    assert all(
        r["status"] != "ok" or r["usable"] == (not r["is_dup"] and not r["contaminated"] and r["keep"])
        for r in rows.values()
    )

    # Decontamination finds a benchmark item that is in a generation (a user-supplied benchmark here)...
    planted, copied = ok[0], ok[1]
    bench = tmp_path / "mybench.jsonl"
    bench.write_text(json.dumps({"id": "item-7", "text": planted["text"][:600]}) + "\n" + "{not json\n")
    # ...and a curated document identical to a generation makes that generation a duplicate of it.
    docs_file = tmp_path / "more-docs.jsonl"
    docs_file.write_text(json.dumps({"name": "copy", "text": copied["text"]}) + "\n")
    ingest_jsonl(data_root, docs_file, "more")
    gates_flow(str(data_root), config, DedupConfig(), DecontamConfig(extra_jsonl=[bench]), EmbedConfig())
    rows = synthetic(data_root)
    assert rows[planted["id"]]["contaminated"] and rows[planted["id"]]["benchmarks"] == "mybench"
    assert not rows[planted["id"]]["usable"]
    _, found = query(
        data_root, "SELECT benchmark, item_id, ngram_overlap FROM contamination WHERE id = ?", [planted["id"]]
    )
    assert ("mybench", "item-7") in {(b, i) for b, i, _ in found}
    assert rows[copied["id"]]["is_dup"] and rows[copied["id"]]["dup_of"] == doc_id("more", "copy")
    assert not rows[copied["id"]]["usable"]
    others = [r for r in rows.values() if r["id"] not in (planted["id"], copied["id"])]
    assert not any(r["contaminated"] for r in others)

    # A rerun of the same job reads every answer back: no request reaches the endpoint.
    again = textbooks_flow(str(data_root), config, llm)
    assert again.run_id == summary.run_id and again.http_requests == 0 and again.by_status == summary.by_status

    # Exercises from the ok textbooks: each textbook gets exercise rows linked to it, or one row that
    # says why not (a 135M model often cannot write the JSON): never a silent gap.
    with_exercises = config.model_copy(update={"exercises": ExercisesConfig(per_textbook=2, max_tokens=300)})
    exercises = exercises_flow(str(data_root), with_exercises, llm)
    assert exercises.requested == len(ok)
    assert exercises_flow(str(data_root), with_exercises, llm).http_requests == 0  # rerun: nothing asked again
    _, rows = query(
        data_root, "SELECT parent_id, status, reason, text FROM generations WHERE task = 'exercise' ORDER BY parent_id"
    )
    assert {r[0] for r in rows} == {r["id"] for r in ok}
    assert all((s == "ok" and t.startswith("Exercise:")) or (s != "ok" and reason) for _, s, reason, t in rows)

    # As SFT conversations (`export.sft_synthetic`): every usable generation, the text the assistant's turn.
    _, usable = query(data_root, "SELECT id, task, subtopic FROM synthetic WHERE usable ORDER BY id")
    _, convs = query(data_root, "SELECT instruction_id, method, messages FROM sft_synthetic ORDER BY instruction_id")
    assert [(i, t) for i, t, _ in usable] == [(i, m) for i, m, _ in convs] and convs
    for (_, task, subtopic), (_, _, messages) in zip(usable, convs, strict=True):
        assert [m["role"] for m in messages] == ["user", "assistant"] and all(m["content"] for m in messages)
        if task == "textbook" and subtopic:
            assert subtopic in messages[0]["content"]

    # Web-seeded mode: seeds from the top-scored curated documents, each traceable to its document.
    score_flow(str(data_root), EmbedConfig())
    web = plan_seeds(data_root, "web-seeds-run", SeedConfig(n=3, mode="web", web_min_score=0.0))
    _, curated = query(data_root, "SELECT id, text FROM curated")
    texts = dict(curated)
    assert len(web) == 3 and all(s.kind == "web" and s.source_doc_id in texts for s in web)
    flat = {i: " ".join(t.split()) for i, t in texts.items()}
    assert all(0 < len(s.extract) <= 1000 and " ".join(s.extract[:80].split()) in flat[s.source_doc_id] for s in web)
