"""`curate dedup` end to end: real Prefect, DuckDB and Parquet shards, driven through `flows.cli.main`."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest

from curators.dedup.minhash import MinHashConfig, shingle
from flows.cli import main
from tests.curators.dedup.test_clusters import delete_words, exact_jaccard, insert_word, real_texts
from tests.curators.dedup.test_minhash import CHINESE, RUSSIAN, big_document, paragraphs
from warehouse.catalog import query, refresh_views
from warehouse.runs import read_runs
from warehouse.schemas import FILTERS, SCORES
from warehouse.shards import done_shards, run_dir, shard_name, write_shard

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]


def write_corpus(path: Path, docs: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"name": name, "text": text}) + "\n" for name, text in docs.items()))
    return path


def ingest(root: Path, path: Path, name: str) -> None:
    args = ["-d", str(root), "ingest", str(path), "--name", name, "--id-field", "name", "--max-doc-bytes", "20000000"]
    assert main(args) == 0


def dups(root: Path) -> dict[str, tuple[str, str]]:
    """Dropped document -> (survivor, method), by document name (the locator)."""
    _, rows = query(
        root,
        "SELECT d.locator, s.locator, x.method FROM dups x JOIN docs d ON d.id = x.id JOIN docs s ON s.id = x.dup_of",
    )
    return {name: (survivor, method) for name, survivor, method in rows}


def dup_rows(root: Path) -> list[tuple]:
    """Every column of `dups` that does not name a run, by document name."""
    _, rows = query(
        root,
        """
        SELECT d.locator, s.locator, m.locator, c.locator, x.method, round(x.similarity, 5), x.cluster_size, x.target
        FROM dups x JOIN docs d ON d.id = x.id JOIN docs s ON s.id = x.dup_of
        JOIN docs m ON m.id = x.matched_with JOIN docs c ON c.id = x.cluster_id
        ORDER BY 1
        """,
    )
    return rows


def run_counts(root: Path, flow: str) -> tuple[str, dict]:
    """Status and counts of the latest run of `flow`."""
    _, rows = query(
        root, "SELECT status, counts FROM runs WHERE flow = ? ORDER BY coalesce(finished, started) DESC LIMIT 1", [flow]
    )
    status, counts = rows[0]
    return status, json.loads(counts)


def verified_pairs(root: Path) -> set[tuple[str, str]]:
    _, rows = query(root, "SELECT a, b FROM dup_pairs")
    return {(a, b) for a, b in rows}


def names(root: Path) -> dict[str, str]:
    _, rows = query(root, "SELECT id, locator FROM docs")
    return dict(rows)


def corpus_one() -> dict[str, str]:
    """Ten real documents, four near copies, two exact copies (after normalisation), one far copy."""
    bases = real_texts(12)
    docs = {f"b{i:02d}": text for i, text in enumerate(bases[:10])}
    for i in range(4):
        docs[f"n{i:02d}"] = insert_word(delete_words(bases[i], 100, offset=i), 60, "moreover")
        assert exact_jaccard(bases[i], docs[f"n{i:02d}"]) >= 0.88
    docs["e04"] = bases[4].upper()
    docs["e05"] = bases[5].replace(",", "")
    docs["f06"] = delete_words(bases[6], 12)
    assert exact_jaccard(bases[6], docs["f06"]) < 0.6
    return docs


EXPECTED_ONE = {
    "n00": ("b00", "minhash"),
    "n01": ("b01", "minhash"),
    "n02": ("b02", "minhash"),
    "n03": ("b03", "minhash"),
    "e04": ("b04", "exact"),  # same length: the earlier locator survives
    "e05": ("b05", "exact"),  # shorter (no commas)
}


def test_dedup_finds_planted_duplicates_and_reruns_are_incremental(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    one = corpus_one()
    ingest(data_root, write_corpus(tmp_path / "one.jsonl", one), "one")
    capsys.readouterr()

    assert main(["-d", str(data_root), "dedup"]) == 0
    out = capsys.readouterr().out
    assert f"{len(one)} documents, 6 duplicates" in out
    assert dups(data_root) == EXPECTED_ONE
    _, rows = query(data_root, "SELECT locator FROM docs WHERE id NOT IN (SELECT id FROM dups)")
    assert {r[0] for r in rows} == set(one) - set(EXPECTED_ONE)
    status, counts = run_counts(data_root, "minhash")
    assert status == "finished" and counts["computed"] == counts["shards"] == 1 and counts["docs"] == len(one)
    status, first = run_counts(data_root, "dedup")
    assert status == "finished" and first["verified"] == first["candidates"] >= 4 and first["reused"] == 0
    first_rows = dup_rows(data_root)

    # A rerun of the flow (--rerun: without it the command answers "up to date" from its record) computes no
    # signature and verifies no pair again; the dups are the same.
    signature_files = {p: p.stat().st_mtime_ns for p, _ in done_shards(data_root, "minhash")}
    assert main(["-d", str(data_root), "dedup", "--rerun"]) == 0
    assert {p: p.stat().st_mtime_ns for p, _ in done_shards(data_root, "minhash")} == signature_files
    assert run_counts(data_root, "minhash")[1]["computed"] == 0
    _, again = run_counts(data_root, "dedup")
    assert again["verified"] == 0 and again["reused"] == again["candidates"] == first["candidates"]
    assert dup_rows(data_root) == first_rows

    # A second file: only its shard gets signatures, only pairs with its documents are verified.
    bases = real_texts(12)
    two = {
        "n07": insert_word(delete_words(bases[7], 100, offset=3), 40, "likewise"),
        "e08": bases[8].lower(),
        "b10": bases[10],
        "n10": delete_words(bases[10], 100, offset=7),
    }
    before = verified_pairs(data_root)
    ingest(data_root, write_corpus(tmp_path / "two.jsonl", two), "two")
    assert main(["-d", str(data_root), "dedup"]) == 0
    status, counts = run_counts(data_root, "minhash")
    assert counts["shards"] == 2 and counts["computed"] == 1
    _, third = run_counts(data_root, "dedup")
    new_pairs = verified_pairs(data_root) - before
    assert third["verified"] == len(new_pairs) > 0
    assert third["reused"] == third["candidates"] - third["verified"] >= first["candidates"]
    id_name = names(data_root)
    assert all(id_name[a] in two or id_name[b] in two for a, b in new_pairs)
    found = dups(data_root)
    assert found == {
        **EXPECTED_ONE,
        "n07": ("b07", "minhash"),
        "e08": ("b08", "exact"),  # same length: the earlier run survives
        "n10": ("b10", "minhash"),
    }
    assert set(first_rows) <= set(dup_rows(data_root))  # the old dups are kept as they were


# Runs `curate dedup` in a child process whose second verification block (and any after it) waits until the first
# block's verified pairs are stored (the blocks are tasks: they may run side by side), then writes a marker file
# and waits there to be killed. Its blocks are verified in its task threads (not in worker processes, where the
# hold below would not be), as with one core.
KILLED_CHILD = """
import sys, threading, time
from pathlib import Path
import curators.dedup.clusters as clusters
from flows.cli import main
from warehouse.shards import done_shards

marker = Path(sys.argv[1])
root = Path(sys.argv[sys.argv.index("-d") + 1])
real_verify = clusters.verify_block
calls = []

def verify_then_hold(*args, **kwargs):
    calls.append(1)
    if len(calls) >= 2:  # this block and any after it hold: one block stored when the kill lands
        while not done_shards(root, "dup_pairs"):
            time.sleep(0.05)
        marker.write_text("in the second verification block, the first one stored")
        threading.Event().wait()
    return real_verify(*args, **kwargs)

clusters.verify_block = verify_then_hold
import flows.dedup  # (after the line above: its store module takes verify_block when imported)

flows.dedup.worker_processes = lambda *args, **kwargs: 0
sys.exit(main(sys.argv[2:]))
"""


def test_a_run_killed_during_verification_resumes_to_the_same_dups(tmp_path: Path) -> None:
    from prefect.settings import PREFECT_API_URL

    source = write_corpus(tmp_path / "one.jsonl", corpus_one())
    config = tmp_path / "curate.yaml"
    config.write_text("dedup:\n  verify_block_pairs: 1\n")
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for root in (whole, killed):
        ingest(root, source, "one")
    assert main(["-c", str(config), "-d", str(whole), "dedup"]) == 0
    _, uninterrupted = run_counts(whole, "dedup")
    assert uninterrupted["candidates"] >= 2  # a second block to be killed in

    marker = tmp_path / "holding"
    args = [str(marker), "-c", str(config), "-d", str(killed), "dedup"]
    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}  # the tests' Prefect server
    child = subprocess.Popen([sys.executable, "-c", KILLED_CHILD, *args], env=env)
    try:
        deadline = time.monotonic() + 300
        while not marker.exists():
            assert child.poll() is None, "the child ended before it was killed"
            assert time.monotonic() < deadline, "the child never reached its second verification block"
            time.sleep(0.05)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    # Killed mid-stage: one block verified and stored, no dups written, the run never ended.
    assert [done["rows"] for _, done in done_shards(killed, "dup_pairs")] == [1]
    assert done_shards(killed, "dups") == []
    (dedup_run,) = [r for r in read_runs(killed) if r.flow == "dedup"]
    assert dedup_run.status == "running" and dedup_run.finished is None

    assert main(["-c", str(config), "-d", str(killed), "dedup"]) == 0
    status, resumed = run_counts(killed, "dedup")
    assert status == "finished"
    assert run_counts(killed, "minhash")[1]["computed"] == 0  # the signatures were kept too
    assert resumed["candidates"] == uninterrupted["candidates"]
    assert resumed["verified"] == uninterrupted["candidates"] - 1 and resumed["reused"] == 1
    # Nothing doubled: each candidate pair verified once, across the killed and the resumed call.
    _, rows = query(killed, "SELECT count(*), count(DISTINCT (a, b)) FROM dup_pairs")
    assert rows == [(uninterrupted["candidates"], uninterrupted["candidates"])]
    assert dup_rows(killed) == dup_rows(whole)
    assert dups(killed) == EXPECTED_ONE


def test_bad_documents_are_handled_by_the_documented_rules(tmp_path: Path, data_root: Path) -> None:
    big, _ = big_document(5 * 1024 * 1024, paragraphs())
    cut = big.index("Section 100.")
    docs = {
        "punct1": "!!! ???",
        "punct2": "!!! ???",
        "punct3": "... --- ...",
        "tiny1": "Hello world",
        "tiny2": "hello, WORLD!",
        "tiny3": "hello world again",
        "spam500": "spam " * 500,
        "spam300": "spam " * 300,
        "zh": CHINESE,
        "zh-copy": CHINESE[:60] + "和" + CHINESE[61:],
        "ru": RUSSIAN,
        "ru-copy": RUSSIAN.replace("памятью", "памяти"),
        "big": big,
        "big-copy": big[:cut] + big[cut + 3000 :],
    }
    ingest(data_root, write_corpus(tmp_path / "bad.jsonl", docs), "bad")
    assert query(data_root, "SELECT count(*) FROM docs")[1] == [(len(docs),)]
    assert main(["-d", str(data_root), "dedup"]) == 0

    assert dups(data_root) == {
        "tiny1": ("tiny2", "exact"),  # the same tokens; tiny2 is longer
        "spam300": ("spam500", "minhash"),  # the same single shingle, other tokens: a near pair at 1.0
        "zh-copy": ("zh", "minhash"),
        "ru-copy": ("ru", "minhash"),
        "big-copy": ("big", "minhash"),
    }
    _, rows = query(
        data_root,
        "SELECT d.locator, m.n_tokens, m.n_shingles, m.exact_hash, m.bands IS NULL, m.signature IS NULL "
        "FROM minhash m JOIN docs d USING (id)",
    )
    sig = {name: rest for name, *rest in rows}
    for name in ("punct1", "punct2", "punct3"):
        assert sig[name] == [0, 0, "", True, True]  # no token: neither exact- nor near-deduplicated
    assert sig["tiny1"][:2] == [2, 1] and sig["tiny3"][:2] == [3, 1]  # shorter than n: one shingle
    assert sig["spam500"][:2] == [500, 496]
    assert sig["big"][0] == shingle(big, MinHashConfig()).n_tokens
    assert sig["zh"][0] > 100  # one token per character


def test_scores_decide_survivors_and_curated_leaves_dups_out(tmp_path: Path, data_root: Path) -> None:
    bases = real_texts(6)
    docs = {f"b{i:02d}": text for i, text in enumerate(bases)}
    docs["n00"] = delete_words(bases[0], 100)  # shorter and later, but scored higher
    docs["e01"] = bases[1].upper()
    ingest(data_root, write_corpus(tmp_path / "one.jsonl", docs), "one")
    ids = {name: i for i, name in names(data_root).items()}
    score = {name: 3.0 for name in docs} | {"n00": 4.5, "b00": 2.0}
    keep = {name: name != "b05" for name in docs}
    now = datetime.now(UTC)
    filters = [{"filter_id": "f1", "path": "filters/f1", "created": now, "run_id": "train-1"}]
    write_shard(run_dir(data_root, "filters", "train-1") / shard_name(0, 0), pa.Table.from_pylist(filters, FILTERS))
    scores = [
        {"id": ids[n], "filter_id": "f1", "score": score[n], "proba": 0.5, "keep": keep[n], "run_id": "score-1"}
        for n in docs
    ]
    write_shard(run_dir(data_root, "scores", "score-1") / shard_name(0, 0), pa.Table.from_pylist(scores, SCORES))
    refresh_views(data_root)

    assert main(["-d", str(data_root), "dedup"]) == 0
    assert dups(data_root) == {"b00": ("n00", "minhash"), "e01": ("b01", "exact")}
    _, rows = query(data_root, "SELECT d.locator FROM curated c JOIN docs d USING (id)")
    assert {r[0] for r in rows} == set(docs) - {"b00", "e01", "b05"}


def test_generations_target_without_generations_is_a_clear_error(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(data_root, write_corpus(tmp_path / "one.jsonl", {"a": real_texts(1)[0]}), "one")
    capsys.readouterr()
    assert main(["-d", str(data_root), "dedup", "--target", "generations"]) == 1
    err = capsys.readouterr().err
    assert "error: nothing to deduplicate: no generations yet" in err and "hint:" in err
    assert main(["-d", str(data_root), "dedup", "--target", "everything"]) == 2  # refused by the parser
    assert "'everything' is not one of 'docs', 'generations'" in capsys.readouterr().err


def test_an_expected_error_prints_no_traceback(tmp_path: Path, data_root: Path) -> None:
    """Like `test_a_wrong_path_is_a_clear_error_without_traceback`: a CurateError is a message and a hint.
    `--target generations` is checked inside the Prefect task, whose ERROR logs print the traceback twice
    (task and flow) before the message, with the CLI's default PREFECT_LOGGING_LEVEL=WARNING."""
    ingest(data_root, write_corpus(tmp_path / "one.jsonl", {"a": real_texts(1)[0]}), "one")
    done = subprocess.run(
        [sys.executable, "-m", "flows.cli", "-d", str(data_root), "dedup", "--target", "generations"],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 1
    assert "error: nothing to deduplicate: no generations yet" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_semantic_duplicates_are_reported_apart_or_removed(tmp_path: Path, data_root: Path) -> None:
    from curators.config import EmbedConfig
    from curators.filter.store import embed_shard
    from warehouse.listings import current_docs_shards
    from warehouse.runs import open_run

    ingest(data_root, write_corpus(tmp_path / "one.jsonl", corpus_one()), "one")
    with open_run(data_root, "embed", EmbedConfig()) as run:  # the score stage's first half: embeddings
        for shard in current_docs_shards(data_root):
            embed_shard(data_root, run.run_id, shard, EmbedConfig())
    assert main(["-d", str(data_root), "dedup", "--semantic", "report"]) == 0
    by_name = names(data_root)
    _, rows = query(data_root, "SELECT a, b, similarity FROM dup_pairs WHERE method = 'semantic'")
    pairs = {tuple(sorted((by_name[a], by_name[b]))): s for a, b, s in rows}
    # f06 lost every 12th word: too far for MinHash (Jaccard < 0.6), the same text to the embedder.
    assert ("b06", "f06") in pairs and all(s >= 0.95 for s in pairs.values())
    assert "f06" not in dups(data_root)  # reported apart, not removed
    assert main(["-d", str(data_root), "dedup", "--semantic", "remove"]) == 0
    found = dups(data_root)
    assert found["f06"] == ("b06", "semantic")
    assert {k: v for k, v in found.items() if v[1] != "semantic"} == EXPECTED_ONE


def test_shards_signed_in_worker_processes_give_the_same_signatures_and_dups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two shards or more to sign and enough of them, each shard is signed in a worker process (one per
    core); the signatures and the dups are those of a run in the task threads."""
    import flows.runners
    from flows.processes import WorkerPool

    bases = real_texts(12)
    two = {"b07": bases[7], "n07": insert_word(delete_words(bases[7], 100, offset=3), 40, "likewise"),
           "b08": bases[8], "e08": bases[8].lower()}  # fmt: skip
    calls: list = []
    real_run = WorkerPool.run
    monkeypatch.setattr(WorkerPool, "run", lambda self, fn, *a, **k: calls.append(fn) or real_run(self, fn, *a, **k))
    ingest(tmp_path / "threads", write_corpus(tmp_path / "one.jsonl", corpus_one()), "one")
    ingest(tmp_path / "threads", write_corpus(tmp_path / "two.jsonl", two), "two")
    shutil.copytree(tmp_path / "threads", tmp_path / "processes")
    signed_in = {}
    for where, min_bytes in (("threads", 1 << 40), ("processes", 0)):
        root = tmp_path / where
        monkeypatch.setattr(flows.runners, "SHARD_PROCESS_MIN_BYTES", min_bytes)
        calls.clear()
        assert main(["-d", str(root), "dedup"]) == 0
        _, signatures = query(root, "SELECT d.locator, m.signature FROM minhash m JOIN docs d USING (id) ORDER BY 1")
        signed_in[where] = (len(calls), signatures, dup_rows(root))
    assert signed_in["threads"][0] == 0
    assert signed_in["processes"][0] == 2  # one call per shard
    assert len(signed_in["processes"][1]) == len(corpus_one()) + len(two)
    assert signed_in["processes"][1:] == signed_in["threads"][1:]
    assert {row[0]: row[1:3] for row in signed_in["processes"][2]}["n07"][0] == "b07"


def test_candidate_pairs_verified_in_worker_processes_give_the_same_pairs_and_dups(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two verification blocks or more run in worker processes (verifying holds the GIL): the verified pairs
    and the dups are those of a run that verifies in its task threads."""
    import flows.dedup
    from curators.dedup.store import verify_pairs
    from flows.processes import WorkerPool

    config = tmp_path / "curate.yaml"
    config.write_text("dedup:\n  verify_block_pairs: 2\n")  # every block of 2 pairs: several blocks
    ingest(tmp_path / "threads", write_corpus(tmp_path / "one.jsonl", corpus_one()), "one")
    shutil.copytree(tmp_path / "threads", tmp_path / "processes")
    calls: list = []
    real_run = WorkerPool.run
    monkeypatch.setattr(WorkerPool, "run", lambda self, fn, *a, **k: calls.append(fn) or real_run(self, fn, *a, **k))
    found = {}
    for where in ("threads", "processes"):
        root = tmp_path / where
        with monkeypatch.context() as patch:
            if where == "threads":
                patch.setattr(flows.dedup, "worker_processes", lambda *args, **kwargs: 0)
            calls.clear()
            assert main(["-c", str(config), "-d", str(root), "dedup"]) == 0
        _, pairs = query(
            root,
            "SELECT a.locator, b.locator, round(p.similarity, 5), p.is_dup FROM dup_pairs p "
            "JOIN docs a ON a.id = p.a JOIN docs b ON b.id = p.b ORDER BY 1, 2",
        )
        found[where] = ([fn for fn in calls if fn is verify_pairs], pairs, dup_rows(root))
    n_candidates = run_counts(tmp_path / "processes", "dedup")[1]["candidates"]
    assert n_candidates >= 4  # at least two blocks
    assert found["threads"][0] == []
    assert len(found["processes"][0]) == -(-n_candidates // 2)  # each block in a worker process
    assert len(found["processes"][1]) == n_candidates
    assert found["processes"][1:] == found["threads"][1:]
    assert dups(tmp_path / "processes") == EXPECTED_ONE
