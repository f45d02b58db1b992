"""`curate run` as one Prefect flow: stage selection, the stages as subflows, skips with their reasons,
and the embed runs of docs and generations kept apart."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from curators.config import CurateConfig, DedupConfig, EmbedConfig, ExportConfig, IngestConfig, RunConfig, SourceSpec
from curators.errors import ConfigError
from curators.ingest.plan import stdlib_dir
from flows.pipeline import STAGES, pipeline_flow, select_stages
from tests.realtext import docstrings
from warehouse.catalog import query, refresh_views
from warehouse.listings import current_docs_shards, table_shards
from warehouse.schemas import GENERATIONS
from warehouse.shards import run_dir, shard_name, write_shard


def test_stages_are_selected_in_pipeline_order() -> None:
    assert select_stages() == list(STAGES)
    assert select_stages(["dedup", "ingest"]) == ["ingest", "dedup"]
    assert select_stages(start="score") == ["score", "dedup", "decontam", "report", "export", "push"]
    assert select_stages(until="label") == ["ingest", "quality", "label"]
    assert select_stages(["ingest", "train", "dedup"], start="label", until="score") == ["train"]
    with pytest.raises(ConfigError, match="unknown stage 'scroe'"):
        select_stages(["scroe"])
    with pytest.raises(ConfigError, match="comes after"):
        select_stages(start="dedup", until="ingest")


MODULES = ["textwrap", "heapq", "difflib", "argparse", "calendar", "functools", "pathlib", "typing"]
MODULES += ["shutil", "tempfile", "fractions", "statistics", "zipfile", "csv", "glob"]


def real_texts(n: int) -> list[str]:
    """Docstrings of stdlib modules: real prose, none a near-duplicate of another."""
    return [docstrings(stdlib_dir() / f"{m}.py") for m in MODULES[:n]]


def corpus(tmp_path: Path) -> Path:
    path = tmp_path / "corpus.jsonl"
    docs = real_texts(12)
    docs.append(docs[3])  # an exact duplicate
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in docs))
    return path


@pytest.mark.usefixtures("prefect_harness")
def test_the_pipeline_runs_the_selected_stages_and_says_why_others_were_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "warehouse"
    config = CurateConfig(
        # Docstrings with doctest code fail Gopher's share of alphabetic words: no rules for this source (its
        # language is still identified), so every stage after quality sees all 13 documents.
        ingest=IngestConfig(sources=[SourceSpec(path=str(corpus(tmp_path)), name="web", profile="none")]),
        run=RunConfig(label_n=0),
        dedup=DedupConfig(),
    )
    done = pipeline_flow(str(root), config)
    assert done.stages == list(STAGES)
    assert done.ingest is not None and done.ingest.ingested == 13
    assert done.quality is not None and done.quality.docs == 13 and done.quality.kept == 13, done.quality
    assert done.label is None and done.skipped["label"] == "run.label_n is 0"
    assert done.train is None and "train_and_score" in done.skipped["train"]
    assert done.score is None and done.skipped["score"] == "no filter was trained in this run"
    assert done.dedup is not None and done.dedup.dups == 1 and done.dedup.by_method == {"exact": 1}
    assert done.report is not None and Path(done.report.path).is_file()
    assert done.skipped["export"] == "run.export_to is not set" and "push" in done.skipped
    # Every document checked against every installed benchmark set (stdlib docstrings hold none).
    assert done.decontam is not None and done.decontam.checked == 13 and done.decontam.flagged == 0
    assert len(done.decontam.removals) == 20 and all(r["benchmark_items"] > 0 for r in done.decontam.removals)
    # A part of the sequence: dedup and decontam, resuming their runs; ingest does not run again.
    again = pipeline_flow(str(root), config, stages=select_stages(start="dedup"))
    assert again.ingest is None and again.dedup is not None and again.dedup.dups == 1
    assert again.dedup.dedup_run_id == done.dedup.dedup_run_id
    assert again.decontam is not None and again.decontam.run_id == done.decontam.run_id
    assert again.decontam.shards_computed == 0
    _, runs = query(root, "SELECT flow, count(*) FROM runs GROUP BY 1 ORDER BY 1")
    assert dict(runs) == {"decontam": 1, "dedup": 1, "ingest": 1, "minhash": 1, "quality": 1}
    # Export as a stage, when configured (the dataset a scheduled run refreshes).
    exporting = config.model_copy(
        update={
            "run": RunConfig(label_n=0, export_to=tmp_path / "dataset"),
            "export": ExportConfig(tokenizer=None),
        }
    )
    exported = pipeline_flow(str(root), exporting, stages=["export", "push"])
    assert [(c.name, c.rows) for c in exported.export.configs] == [("pretrain", 12)]  # 13 documents, 1 copy
    assert (tmp_path / "dataset" / "README.md").is_file() and "push_to" in exported.skipped["push"]
    # The config switch, and no benchmark set installed: skipped, with the reason.
    off = config.model_copy(update={"run": RunConfig(label_n=0, decontam=False)})
    assert pipeline_flow(str(root), off, stages=["decontam"]).skipped == {"decontam": "run.decontam is off"}
    monkeypatch.setenv("CURATE_BENCHSETS", str(tmp_path / "no-sets"))
    skipped = pipeline_flow(str(root), config, stages=["decontam"]).skipped["decontam"]
    assert skipped.startswith("no benchmark sets installed") and "make setup" in skipped


@pytest.mark.usefixtures("prefect_harness")
def test_generation_embeddings_get_a_run_of_their_own(tmp_path: Path) -> None:
    """The embed run of the generations never resumes (and so mixes with) the embed run of the docs."""
    from prefect import flow

    from flows.ingest import ingest_flow
    from flows.score import embed_shards

    root = tmp_path / "warehouse"
    ingest_flow(str(root), IngestConfig(sources=[SourceSpec(path=str(corpus(tmp_path)), name="web")]))
    rows = [
        {"id": f"g{i}", "task": "textbook", "seed_id": "s", "prompt_id": "p", "model": "m", "text": text}
        | {"status": "ok", "run_id": "synth-1"}
        for i, text in enumerate(real_texts(15)[12:])
    ]
    write_shard(
        run_dir(root, "generations", "synth-1") / shard_name(0, 0),
        pa.Table.from_pylist(rows, schema=GENERATIONS),
        table="generations",
    )
    refresh_views(root)

    @flow
    def embed_both() -> tuple[str, str]:
        docs = embed_shards(root, "docs", current_docs_shards(root), EmbedConfig(), None)
        generations = embed_shards(root, "generations", table_shards(root, "generations"), EmbedConfig(), None)
        return docs, generations

    docs_run, generations_run = embed_both()
    assert docs_run != generations_run
    _, got = query(root, "SELECT run_id, count(*), count(*) FILTER (WHERE id LIKE 'g%') FROM embeddings_all GROUP BY 1")
    assert sorted(got) == sorted([(docs_run, 13, 0), (generations_run, 3, 3)])
