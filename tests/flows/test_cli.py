from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from prefect.settings import PREFECT_API_URL

from curators.config import IngestConfig, SourceSpec
from curators.ingest.plan import plan_units, stdlib_dir
from curators.ingest.store import ingest_unit
from flows.cli import main
from tests.corpus import prose, write_jsonl
from tests.warehouse.test_lock import hold_lock
from warehouse.runs import open_run

CURATE = [sys.executable, "-m", "flows.cli"]


@pytest.fixture
def small_warehouse(tmp_path: Path, data_root: Path) -> Path:
    """A warehouse with a few documents and one reject, built without Prefect."""
    path = tmp_path / "notes.jsonl"
    write_jsonl(path, [json.dumps({"text": prose(i), "topic": "bio"}).encode() for i in range(5)] + [b"{bad"])
    config = IngestConfig(sources=[SourceSpec(path=str(path), name="notes")])
    with open_run(data_root, "ingest", config) as run:
        for unit in plan_units(config).units:
            ingest_unit(unit, data_root, run.run_id, config)
    return data_root


def test_help_explains_commands_and_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    for command in ("run", "ingest", "sql", "status", "config", "dedup", "synth"):
        assert command in text
    assert main(["dedup", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--threshold", "--bands", "--rows", "--verify", "--keep", "--semantic", "--against", "dup_of"):
        assert option in text
    assert main(["synth", "textbooks", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--n", "--seed", "--mode", "--max-tokens", "--gates", "contamination"):
        assert option in text
    assert main(["ingest", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in (
        "--format",
        "--text-field",
        "--id-field",
        "--wait",
        "--fresh",
        "seen = ingested + rejected",
    ):
        assert option in text


def test_sql_prints_table_csv_and_json(small_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["-d", str(small_warehouse), "sql", "SELECT source, count(*) AS n FROM docs GROUP BY 1"]) == 0
    assert "notes" in capsys.readouterr().out
    assert main(["-d", str(small_warehouse), "sql", "SELECT locator, reason FROM rejects", "--csv"]) == 0
    assert list(csv.reader(io.StringIO(capsys.readouterr().out))) == [
        ["locator", "reason"],
        ["notes.jsonl:6", "malformed_json"],
    ]
    assert main(["-d", str(small_warehouse), "sql", "SELECT id, meta FROM docs ORDER BY locator", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(rows) == 5 and json.loads(rows[0]["meta"]) == {"topic": "bio"}


def test_status_shows_tables_sources_rejects_and_runs(
    small_warehouse: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["-d", str(small_warehouse), "status"]) == 0
    text = capsys.readouterr().out
    assert "malformed_json" in text and "notes" in text and "finished" in text


def test_run_selects_stages_and_choices_are_checked(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["run", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.split())
    for option in ("--stages", "--from", "--until", "--fresh", "--wait", "ingest, quality, label, train, score, dedup"):
        assert option in text
    # A choice outside the Enum is refused by the parser, naming the allowed values; nothing runs.
    assert main(["run", "--from", "scroe"]) == 2
    assert "'scroe' is not one of" in capsys.readouterr().err
    assert main(["dedup", "--target", "gens"]) == 2
    assert "docs" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [["status"], ["sql", "SELECT count(*) FROM docs"], ["config", "show"], ["prompts", "list"], ["run", "--help"]],
)
def test_read_only_commands_import_no_prefect_torch_or_models(small_warehouse: Path, args: list[str]) -> None:
    code = (
        "import sys; from flows.cli import main; rc = main(sys.argv[1:]); "
        "heavy = sorted(m for m in ('prefect', 'torch', 'sentence_transformers', 'transformers') "
        "if m in sys.modules); print('HEAVY', rc, heavy)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "-d", str(small_warehouse), *args],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.stdout.strip().splitlines()[-1] == "HEAVY 0 []", done.stderr


def test_a_wrong_path_is_a_clear_error_without_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [*CURATE, "-d", str(tmp_path / "w"), "ingest", str(tmp_path / "missing.jsonl")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1
    assert "source not found" in done.stderr and "hint:" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


def test_unknown_format_and_bad_config_key_name_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "data.bin").write_bytes(b"\x00")
    assert main(["-d", str(tmp_path / "w"), "ingest", str(tmp_path / "data.bin")]) == 1
    assert "--format" in capsys.readouterr().err
    config = tmp_path / "curate.yaml"
    config.write_text("ingest:\n  shard_row: 5\n")
    assert main(["-c", str(config), "config", "show"]) == 1
    err = capsys.readouterr().err
    assert "ingest.shard_row" in err and "did you mean 'shard_rows'" in err
    config.write_text("ingest:\n  shard_rows: -5\n")
    assert main(["-c", str(config), "config", "show"]) == 1
    assert "greater than 0" in capsys.readouterr().err


def test_config_show_masks_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CURATE_LLM_API_KEY", "sk-very-secret")
    monkeypatch.setenv("HF_TOKEN", "hf_secret_token")
    monkeypatch.setenv("CURATE_DATA", str(tmp_path / "from-env"))
    assert main(["config", "show"]) == 0
    text = capsys.readouterr().out
    assert "sk-very-secret" not in text and "hf_secret_token" not in text
    assert "llm_api_key: '****'" in text and str(tmp_path / "from-env") in text


def test_config_init_writes_a_valid_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "curate.yaml"
    assert main(["config", "init", str(path)]) == 0
    assert main(["-c", str(path), "config", "show"]) == 0
    assert "python-stdlib" in capsys.readouterr().out
    assert main(["config", "init", str(path)]) == 1  # no silent overwrite


def test_a_locked_warehouse_refuses_a_second_writer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "w"
    root.mkdir()
    source = tmp_path / "a.jsonl"
    write_jsonl(source, [b'{"text": "hello"}'])
    holder = hold_lock(root, 60)
    try:
        assert main(["-d", str(root), "ingest", str(source)]) == 1
        err = capsys.readouterr().err
        assert "being written by" in err and f"pid {holder.pid}" in err and "--wait" in err
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.slow
def test_curate_run_end_to_end_on_the_python_stdlib(tmp_path: Path) -> None:
    """The main command, as a user runs it: real Prefect (its own ephemeral API), real DuckDB, the real
    embedded llama.cpp server (with the small test model, set in curate.yaml). Sized for time: the label
    sample is drawn with the real embedder reading 64 tokens a document (at its default 256, embedding the
    1,000 candidates of the sample was most of this test's time), and documents are sent cut to 64 tokens."""
    (tmp_path / "curate.yaml").write_text(
        "llm:\n  local_model: smollm2-135m-instruct-q4_1\nrun:\n  label_n: 3\n  label_max_doc_tokens: 64\n"
        "embed:\n  max_seq_length: 64\n"
        "export:\n  tokenizer: null\n"  # the report's funnel in tokens costs ~25 s here: tests/flows/test_report.py
    )
    env = {**os.environ, "CURATE_DATA": str(tmp_path / "data"), "CURATE_MODEL_CACHE": str(tmp_path / "models")}
    done = subprocess.run([*CURATE, "run"], capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "seen" in done.stdout and "python-stdlib" in done.stdout
    # One `curate sql` for every check of the warehouse (each command is a Python start).
    answer = subprocess.run(
        [
            *CURATE,
            "sql",
            "SELECT (SELECT count(*) FROM docs) AS n, (SELECT count(DISTINCT id) FROM docs) AS ids, "
            "(SELECT counts FROM runs WHERE flow = 'ingest') AS ingest_counts, "
            "(SELECT count(*) FROM labels) AS labels, (SELECT count(DISTINCT id) FROM labels) AS labelled, "
            "(SELECT count(*) FROM dups) AS dups, "
            "(SELECT count(*) FILTER (WHERE profile = 'code') FROM quality) AS checked_as_code, "
            "(SELECT count(*) FILTER (WHERE NOT passed) FROM quality) AS failing, "
            "(SELECT count(*) FILTER (WHERE dup_of IN (SELECT id FROM docs) "
            "AND dup_of NOT IN (SELECT id FROM dups)) FROM dups) AS traced",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=tmp_path,
    )
    assert answer.returncode == 0, answer.stderr
    row = json.loads(answer.stdout)
    assert row["n"] == row["ids"] > 500
    run_counts = json.loads(row["ingest_counts"])
    assert run_counts["seen"] == run_counts["ingested"] + run_counts["rejected"]
    assert run_counts["ingested"] == row["n"]
    assert (row["labels"], row["labelled"]) == (3, 3)
    # The quality rules checked every file as code (generated codec tables, data files fail some), first.
    assert row["checked_as_code"] == row["n"] and 0 < row["failing"] < row["n"] // 4, row
    assert "quality" in done.stdout
    assert "labeller" in done.stdout  # the status summary shows the labels
    assert "training skipped" in done.stderr and "usable labels" in done.stderr  # 3 labels: too few to train
    # Deduplication ran: each duplicate points at a current document that is not itself a duplicate.
    assert "dedup docs:" in done.stdout
    assert row["dups"] == row["traced"]


def log_page(k: int) -> str:
    """A page of server log lines: the kind of junk a web crawl is full of."""
    lines = [
        f"2024-03-{1 + k % 28:02d} 12:{(k * 7 + i) % 60:02d}:{(k * 13 + i * 5) % 60:02d} INFO request "
        f"id={k * 1000 + i:06d} method=GET path=/api/v1/items/{(k * 31 + i * 17) % 997} status=200 "
        f"bytes={(k * 101 + i * 53) % 9000 + 200} duration_ms={(k + i * 3) % 90 + 4}"
        for i in range(40)
    ]
    return "\n".join(lines)


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_curate_run_trains_scores_and_drops_a_duplicate(tmp_path: Path) -> None:
    """`curate run` through every stage, none skipped: labels on both sides of the threshold come from a
    scripted loopback endpoint (a real LLM's labels of 40 documents are not guaranteed to be varied enough
    to train; `tests/flows/test_train_on_llm_labels.py` trains on the embedded model's own labels), then the
    filter is trained and evaluated, every document scored, a planted exact duplicate dropped, the
    documents decontaminated and the warehouse exported with its card (the run's export stage: a second
    command would start a second Prefect); all through the real CLI, Prefect, DuckDB and the real embedding
    model."""
    from tests.fake_llm import FakeLLM
    from tests.realtext import EXPLAINED_MODULES, docstrings

    texts = [docstrings(stdlib_dir() / f"{m}.py") for m in EXPLAINED_MODULES]
    texts = [t for t in texts if len(t.split()) >= 150][:24]
    assert len(texts) == 24
    docs = [{"name": f"edu{i:02d}", "text": t} for i, t in enumerate(texts)]
    docs += [{"name": f"log{k:02d}", "text": log_page(k)} for k in range(16)]
    docs.append({"name": "edu03-again", "text": texts[3]})  # the duplicate
    corpus = tmp_path / "crawl.jsonl"
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs))
    (tmp_path / "curate.yaml").write_text(
        # profile none: no quality rules on this source (docstrings with doctest code fail Gopher's share of
        # alphabetic words, and so would most log pages): the filter is what this test is about.
        f"ingest:\n  sources:\n    - {{path: {corpus}, name: crawl, id_field: name, profile: none}}\n"
        "run:\n  label_n: 60\n  label_max_doc_tokens: 256\n"
        f"  export_to: {tmp_path / 'out'}\n"
        "filter:\n  min_labels: 20\n  n_estimators: 50\n"
        "export:\n  tokenizer: null\n"
    )
    with FakeLLM(scorer=lambda text: 1 if "INFO request" in text else 4) as fake:
        env = {**os.environ, "CURATE_DATA": str(tmp_path / "data")}
        env |= {"CURATE_LLM_BASE_URL": fake.base_url, "CURATE_LLM_MODEL": "scripted"}
        # The session's Prefect server, as a running `curate prefect start` server would be (the stdlib test
        # above runs with the ephemeral API a first-time user gets).
        env["PREFECT_API_URL"] = PREFECT_API_URL.value()
        done = subprocess.run([*CURATE, "run"], capture_output=True, text=True, timeout=900, env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # No stage skipped (train, score and export ran) but push, which is off unless configured.
    skipped = [line for line in done.stderr.splitlines() if " skipped:" in line]
    assert [line.split()[0] for line in skipped] == ["push"], done.stderr
    assert fake.total == len(docs) - 1  # one request per distinct document: the duplicate's answer is reused

    def sql(query: str) -> list[dict]:
        answer = subprocess.run(
            [*CURATE, "sql", query, "--json"], capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path
        )
        assert answer.returncode == 0, answer.stderr
        return [json.loads(line) for line in answer.stdout.splitlines() if line.strip()]  # JSON lines

    labels = sql("SELECT round(l.score) AS score, count(*) AS n FROM labels l GROUP BY 1 ORDER BY 1")
    assert {r["score"]: r["n"] for r in labels} == {1: 16, 4: 24}
    filters = sql("SELECT count(*) AS n FROM filters")
    assert filters[0]["n"] == 1
    assert "baseline" in done.stdout  # the filter card: held-out metrics beside the majority baseline
    scored = sql("SELECT count(*) AS n, count(*) FILTER (WHERE keep) AS kept FROM scores")
    assert scored[0]["n"] == len(docs)
    dups = sql(
        "SELECT d.locator AS dropped, s.locator AS kept FROM dups x JOIN docs d ON d.id = x.id "
        "JOIN docs s ON s.id = x.dup_of"
    )
    # The planted duplicate, and the log pages (one template once digits are normalised) among themselves.
    dropped_edu = [(d["dropped"], d["kept"]) for d in dups if d["dropped"].startswith("edu")]
    assert len(dropped_edu) == 1 and set(dropped_edu[0]) == {"edu03", "edu03-again"}
    assert all(d["dropped"].startswith("log") == d["kept"].startswith("log") for d in dups)
    curated = {r["locator"] for r in sql("SELECT locator FROM curated")}
    assert dropped_edu[0][0] not in curated
    kept_edu = sum(name.startswith("edu") for name in curated) / 24
    kept_logs = sum(name.startswith("log") for name in curated) / 16
    assert kept_edu > kept_logs  # the filter learned the labels' direction, not a quality bar
    assert "decontam docs:" in done.stdout and sql("SELECT count(*) AS n FROM contamination")[0]["n"] == 0
    assert (tmp_path / "data" / "report.html").is_file()  # the report stage, before the export
    # The card of this warehouse: labels, prompts with the request as sent, usage, the filter.
    card = (tmp_path / "out" / "README.md").read_text()
    for section in ("## Labels", "## Prompts", "## Tokens and cost per stage", "## Educational filter", "LSH "):
        assert section in card, section
    assert "A labelling request as the model received it" in card and "--- user ---" in card


def test_prompts_list_show_and_render(small_warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompts", "list"]) == 0
    text = capsys.readouterr().out
    assert "edu@v1:" in text and "edu-code@v1:" in text and "EduScore" in text
    assert main(["prompts", "show", "edu"]) == 0
    assert "Add 1 point" in capsys.readouterr().out
    from warehouse.catalog import query

    doc_id = query(small_warehouse, "SELECT id FROM docs ORDER BY locator LIMIT 1")[1][0][0]
    assert main(["-d", str(small_warehouse), "prompts", "render", "edu", "--doc", doc_id]) == 0
    rendered = capsys.readouterr().out
    assert "--- system ---" in rendered and "--- user ---" in rendered and "Lesson 0." in rendered
    assert main(["-d", str(small_warehouse), "prompts", "render", "edu", "--doc", "nope"]) == 1
    assert "no document with id" in capsys.readouterr().err


def test_llm_models_and_status(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["llm", "models"]) == 0
    text = capsys.readouterr().out
    assert "qwen2.5-coder-1.5b-instruct-q4_k_m" in text and "(default)" in text and "smollm2" in text
    assert main(["-d", str(tmp_path), "llm", "status"]) == 0
    assert "no embedded server running" in capsys.readouterr().out


@pytest.mark.usefixtures("prefect_harness")
def test_label_against_a_configured_endpoint_keeps_the_key_secret(
    small_warehouse: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.fake_llm import FakeLLM

    secret = "sk-test-very-secret-123"
    with FakeLLM() as fake:
        monkeypatch.setenv("CURATE_LLM_BASE_URL", fake.base_url)
        monkeypatch.setenv("CURATE_LLM_MODEL", "fake-model")
        monkeypatch.setenv("CURATE_LLM_API_KEY", secret)
        assert main(["-d", str(small_warehouse), "label", "--n", "3"]) == 0
    out = capsys.readouterr()
    assert "ok 3" in out.out and secret not in out.out + out.err
    assert fake.auth == {f"Bearer {secret}"}  # the key was used...
    for path in small_warehouse.rglob("*"):  # ...and written nowhere
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
