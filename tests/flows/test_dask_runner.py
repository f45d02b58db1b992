"""`curate run --runner dask` on a Dask cluster the test starts on loopback (`dask scheduler` + `dask worker`):
ingest units, quality shards, LLM label batches (against a loopback endpoint), MinHash signatures, LSH band
ranges, verification blocks and decontamination shards run as tasks on its workers, and the warehouse ends with
the same `docs`, `rejects`, `quality`, `labels`, `dups` and `contamination` rows as the local run of the same
input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from curators.child_processes import free_port
from flows.cli import main
from tests.curators.dedup.test_clusters import real_texts
from tests.fake_llm import FakeLLM
from warehouse.catalog import query
from warehouse.listings import table_shards

pytestmark = pytest.mark.slow

TABLES = {
    "docs": "SELECT id, source, locator, text_hash, n_chars FROM docs ORDER BY id",
    "rejects": "SELECT source, locator, reason FROM rejects ORDER BY ALL",
    "dups": "SELECT id, dup_of, method, round(similarity, 6) FROM dups ORDER BY id",
    "contamination": "SELECT id, benchmark, item_id FROM contamination ORDER BY ALL",
    "quality": "SELECT * EXCLUDE (run_id) FROM quality ORDER BY id",
    "labels": "SELECT id, score, status FROM labels ORDER BY id",
}


def corpus(folder: Path) -> tuple[Path, Path]:
    """Three files (three ingest units): real texts, copies and near-copies across files, a broken line, and a
    document holding a benchmark item; the benchmark file."""
    texts = real_texts(12)
    folder.mkdir()
    for k in range(3):
        lines = [json.dumps({"name": f"f{k}-d{i}", "text": t}) for i, t in enumerate(texts[4 * k : 4 * k + 4])]
        lines.append(json.dumps({"name": f"f{k}-copy", "text": texts[(4 * k + 5) % 12]}))  # an exact copy
        near = texts[(4 * k + 6) % 12].split()
        lines.append(json.dumps({"name": f"f{k}-near", "text": " ".join(near[:-3] + ["and", "so", "on"])}))
        if k == 1:
            lines.append('{"name": "broken", "text": ')
        (folder / f"part{k}.jsonl").write_text("\n".join(lines) + "\n")
    bench = folder.parent / "mybench.jsonl"
    bench.write_text(json.dumps({"id": "item-1", "text": " ".join(texts[2].split()[:80])}) + "\n")
    return folder, bench


def rows(root: Path) -> dict[str, list[tuple]]:
    return {name: query(root, sql)[1] for name, sql in TABLES.items()}


def test_the_pipeline_on_a_dask_cluster_writes_what_the_local_run_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, bench = corpus(tmp_path / "corpus")
    config = tmp_path / "curate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "ingest": {"sources": [{"path": str(folder), "name": "web", "format": "jsonl"}]},
                "run": {"label_n": 6, "report": False},
                "label": {"strategy": "random", "batch": 2, "quality_gate": False},  # three batches: three tasks
                "decontam": {"benchmarks": [], "extra_jsonl": [str(bench)]},
            }
        )
    )
    stages = ["--stages", "ingest", "--stages", "quality", "--stages", "label", "--stages", "dedup"]
    stages += ["--stages", "decontam"]
    local, on_dask = tmp_path / "local", tmp_path / "dask"
    # The labelling endpoint listens on loopback: the workers (on this machine) reach it.
    with FakeLLM(scorer=lambda text: 1 + len(text) % 5) as fake:
        monkeypatch.setenv("CURATE_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("CURATE_LLM_MODEL", "scripted")
        assert main(["-c", str(config), "-d", str(local), "run", *stages]) == 0
        run_on_a_cluster(tmp_path, config, on_dask, stages)
    ours, theirs = rows(local), rows(on_dask)
    assert ours == theirs
    # The input had what each table is for: 3 units, a broken line, exact and near copies, a benchmark item.
    assert len(ours["docs"]) == 18 and [r[2] for r in ours["rejects"]] == ["malformed_json"]
    assert {r[2] for r in ours["dups"]} == {"exact", "minhash"} and len(ours["contamination"]) >= 1
    assert len(ours["quality"]) == 18
    assert len(ours["labels"]) == 6 and {r[2] for r in ours["labels"]} == {"ok"}


def run_on_a_cluster(tmp_path: Path, config: Path, on_dask: Path, stages: list[str]) -> None:
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "DASK_LOGGING__DISTRIBUTED": "warning"}
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", str(port),
         "--no-dashboard"], env=env,
    )  # fmt: skip
    worker = None
    try:
        worker = subprocess.Popen(
            [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nworkers", "2", "--nthreads", "1",
             "--no-dashboard"], env=env, cwd=tmp_path,
        )  # fmt: skip
        from distributed import Client

        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=60)
            assert main(["-c", str(config), "-d", str(on_dask), "run", *stages, "--runner", "dask",
                         "--dask-address", address]) == 0  # fmt: skip
            # The map stages ran as tasks of this cluster (their names are the task keys' prefixes).
            seen = client.run_on_scheduler(lambda dask_scheduler: sorted(dask_scheduler.task_prefixes))
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    print("task prefixes on the cluster:", seen)
    map_tasks = {"ingest_unit_task", "quality_task", "minhash_task", "band_task", "verify_task", "decontam_task"}
    assert map_tasks | {"llm_stage_task"} <= set(seen), seen


SYNTH_TABLES = {
    "generations": "SELECT id, task, seed_id, status, text FROM generations ORDER BY id",
    "instructions": "SELECT id, method, seed_id, status, text FROM instructions ORDER BY id",
    "responses": "SELECT id, instruction_id, principle, status, text FROM responses ORDER BY id",
}


@pytest.mark.usefixtures("prefect_harness")  # the session's Prefect API: no ephemeral one per command
def test_the_synthetic_steps_write_their_batches_as_dask_tasks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`curate synth textbooks|instructions|responses --runner dask --dask-address`: each pending batch of the
    textbooks and responses is a task on the cluster; Self-Instruct's rounds (each answer checked against the
    ROUGE-L pool of those before it) stay in one process. The rows equal those of the same steps run locally."""
    from distributed import Client, LocalCluster

    from tests.flows.test_instruct_flow import scripted

    config = tmp_path / "curate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "synth": {"textbook": {"batch": 2}},  # 6 textbooks: three batches, three tasks
                "instruct": {
                    "instructions": {"batch": 2, "self_instruct": {"per_request": 4, "rounds": 2}},
                    "responses": {"batch": 4, "per_instruction": 2, "max_instructions": 6},
                },
            }
        )
    )
    steps = [
        ["synth", "textbooks", "--n", "6", "--no-gates"],
        ["synth", "instructions", "--method", "self-instruct", "--n", "8", "--no-gates"],
        ["synth", "responses", "--no-gates"],
    ]
    local, on_dask = tmp_path / "local", tmp_path / "dask"
    with FakeLLM(answer=scripted) as fake:
        monkeypatch.setenv("CURATE_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("CURATE_LLM_MODEL", "scripted")
        for step in steps:
            assert main(["-c", str(config), "-d", str(local), *step]) == 0
        asked_locally = fake.total
        with (
            LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
            Client(cluster) as client,
        ):
            for step in steps:
                dask = ["--runner", "dask", "--dask-address", cluster.scheduler_address]
                assert main(["-c", str(config), "-d", str(on_dask), *step, *dask]) == 0
            prefixes = client.run_on_scheduler(
                lambda dask_scheduler: {
                    name: dict(prefix.state_counts) for name, prefix in dask_scheduler.task_prefixes.items()
                }
            )
        assert fake.total == 2 * asked_locally  # the same requests, each once
    ours = {name: query(local, sql)[1] for name, sql in SYNTH_TABLES.items()}
    theirs = {name: query(on_dask, sql)[1] for name, sql in SYNTH_TABLES.items()}
    assert ours == theirs
    assert len(ours["generations"]) == 6 and len(ours["responses"]) >= 4
    assert {status for *_, status, _ in ours["instructions"]} & {"ok"}
    # One task per batch (shard) of textbooks and of responses; none for Self-Instruct (its rounds ran on the
    # driver, each answer checked against the pool of those before it).
    batches = {table: len(table_shards(on_dask, table)) for table in SYNTH_TABLES}
    assert batches["generations"] == 3 and batches["responses"] >= 2 and batches["instructions"] >= 2, batches
    tasks = prefixes["llm_stage_task"]["forgotten"]  # every task ends forgotten, once
    assert tasks == batches["generations"] + batches["responses"], (prefixes, batches)
