"""`curate quality` end to end: real prose, real German, real code and real junk made from real text, through
the real rules and language model, Prefect, DuckDB and Parquet shards. Every document gets one `quality` row;
the failing ones leave `curated` with their rule (or language) in `dropped`; a rerun computes nothing; a changed
threshold recomputes; new documents are `not_checked` until checked; labelling samples only passing ones."""

from __future__ import annotations

import base64
import gettext
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from curators.filter.store import candidates
from curators.heuristics.config import QualityConfig, policies_for
from curators.ingest.config import IngestConfig, SourceSpec
from curators.ingest.plan import stdlib_dir
from curators.publish.store import card_facts
from flows.cli import main
from flows.quality import quality_flow
from tests.flows.test_dedup_flow import write_corpus
from warehouse.catalog import query

pytestmark = pytest.mark.usefixtures("prefect_harness")

GPL = Path("/usr/share/common-licenses/GPL-3")
CONTACT = "Write to jane.doe@example.org, or fetch a copy from the mirror at 93.184.216.34 instead."
LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore "
    "magna aliqua. Ut enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo "
    "consequat."
)


def gpl_sections(n: int) -> list[str]:
    """`n` sections of the GPL-3 text (real English prose of a few thousand characters each), its paragraphs
    unwrapped as a web page holds them (C4 and FineWeb judge lines: hard-wrapped prose fails them)."""
    text = GPL.read_text()
    paragraphs = [" ".join(p.split()) for p in text.split("\n\n")]
    parts = [p for p in paragraphs if len(p.split()) > 40]
    sections, current = [], []
    for part in parts:
        current.append(part)
        if sum(len(p.split()) for p in current) > 350:
            sections.append("\n\n".join(current))
            current = []
    assert len(sections) >= n
    return sections[:n]


def german_prose() -> str:
    """Real German sentences: the longer messages of coreutils' German catalog."""
    mo = Path("/usr/share/locale/de/LC_MESSAGES/coreutils.mo")
    if not mo.exists():
        pytest.skip(f"no German catalog at {mo}")
    with mo.open("rb") as fh:
        catalog = gettext.GNUTranslations(fh)._catalog  # noqa: SLF001 - the stdlib's parsed .mo
    messages = [m for m in catalog.values() if isinstance(m, str) and len(m.split()) > 8 and "%" not in m]
    return "\n".join(messages[:60])


def corpus(folder: Path) -> dict[str, Path]:
    """A prose source and a code source, each with documents that pass and documents that fail."""
    folder.mkdir()
    good = gpl_sections(4)
    prose = {
        "good-1": good[0] + " " + CONTACT,
        "good-2": good[1],
        "good-3": good[2],
        "german": german_prose(),
        "lorem": good[3] + "\n\n" + LOREM,
        "repeated": "\n\n".join([good[0].split("\n\n")[0]] * 12),
        "too-short": "Click here to continue.",
    }
    code = folder / "code"
    code.mkdir()
    shutil.copy(stdlib_dir() / "textwrap.py", code / "textwrap.py")
    shutil.copy(stdlib_dir() / "heapq.py", code / "heapq.py")
    blob = base64.b64encode(GPL.read_bytes()).decode()
    (code / "blob.py").write_text(f'DATA = "{blob}"\n')
    return {"prose": write_corpus(folder / "web.jsonl", prose), "code": code}


@pytest.fixture
def checked(tmp_path: Path, data_root: Path) -> tuple[Path, Path]:
    paths = corpus(tmp_path / "corpus")
    config = tmp_path / "curate.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "ingest": {
                    "languages": ["en"],
                    "sources": [
                        {"path": str(paths["prose"]), "name": "web", "id_field": "name"},
                        {"path": str(paths["code"]), "name": "code", "format": "code"},
                    ],
                }
            }
        )
    )
    assert main(["-c", str(config), "-d", str(data_root), "ingest"]) == 0
    return config, data_root


def by_locator(root: Path) -> dict[str, dict]:
    columns, rows = query(root, "SELECT d.locator, q.* FROM quality q JOIN docs d USING (id)")
    return {r[0]: dict(zip(columns, r, strict=True)) for r in rows}


def test_every_document_gets_its_rules_and_language(
    checked: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config, root = checked
    assert main(["-c", str(config), "-d", str(root), "quality"]) == 0
    printed = capsys.readouterr().out
    assert "pass rate" in printed and "gopher" in printed and "code_" in printed

    q = by_locator(root)
    _, docs = query(root, "SELECT count(*) FROM docs")
    assert len(q) == docs[0][0] == 10
    assert {loc: r["profile"] for loc, r in q.items()} == {
        **dict.fromkeys(["good-1", "good-2", "good-3", "german", "lorem", "repeated", "too-short"], "prose"),
        **dict.fromkeys(["textwrap.py", "heapq.py", "blob.py"], "code"),
    }
    for name in ("good-1", "good-2", "good-3"):
        assert q[name]["passed"] and q[name]["lang"] == "en" and q[name]["lang_ok"], (name, q[name]["failed"])
    for name in ("textwrap.py", "heapq.py"):
        assert q[name]["passed"], (name, q[name]["failed"])
        assert all(q[name][rule] is None for rule in q[name] if rule.startswith(("gopher", "c4_", "fineweb_")))
    assert q["german"]["lang"] == "de" and q["german"]["lang_score"] > 0.8 and not q["german"]["lang_ok"]
    assert any(rule.startswith("c4_") for rule in q["lorem"]["failed"]), q["lorem"]["failed"]
    assert any(rule.startswith("gopher_rep") for rule in q["repeated"]["failed"]), q["repeated"]["failed"]
    assert q["too-short"]["failed"] and not q["too-short"]["passed"]
    assert not q["blob.py"]["passed"] and all(rule.startswith("code_") for rule in q["blob.py"]["failed"])
    # A failed rule says why, with its value.
    failed_rule = q["repeated"]["failed"][0]
    verdict = q["repeated"][failed_rule]
    assert verdict["passed"] is False and verdict["reason"] and verdict["value"] is not None

    # `curated` keeps exactly the passing documents in a kept language; `dropped` names the rule or language.
    _, kept = query(root, "SELECT d.locator FROM curated d ORDER BY 1")
    assert [r[0] for r in kept] == ["good-1", "good-2", "good-3", "heapq.py", "textwrap.py"]
    _, dropped = query(root, "SELECT locator, reason, detail FROM dropped ORDER BY 1, 2")
    reasons = {}
    for locator, reason, detail in dropped:
        reasons.setdefault(locator, {})[reason] = detail
    assert set(reasons) == {"german", "lorem", "repeated", "too-short", "blob.py"}
    assert "de (" in reasons["german"]["language"]
    assert failed_rule in reasons["repeated"]["heuristics"] and verdict["reason"] in reasons["repeated"]["heuristics"]

    # The card's funnel has the step, and each rule's counts.
    facts = card_facts(root)
    assert facts["funnel"]["heuristics"] == 5 and facts["funnel"]["language"] == 1  # German fails both
    rules = {r["rule"]: r for r in facts["quality_rules"]}
    assert rules[failed_rule]["failed"] >= 1 and rules[failed_rule]["applied"] == 7

    # The export redacts the e-mail and the public IP address in the text it writes, counts them per row and
    # in the card; the warehouse keeps the original.
    out = root.parent / "export"
    assert main(["-c", str(config), "-d", str(root), "export", str(out), "--tokenizer", "none"]) == 0
    exported = {r["locator"]: r for f in (out / "pretrain").glob("*.parquet") for r in pq.read_table(f).to_pylist()}
    assert set(exported) == {"good-1", "good-2", "good-3", "heapq.py", "textwrap.py"}
    text = exported["good-1"]["text"]
    assert "jane.doe@example.org" not in text and "93.184.216.34" not in text and "fetch a copy from" in text
    counts = {k: (r["pii_emails"], r["pii_ip_addresses"]) for k, r in exported.items()}
    # textwrap.py names its author's address in its header ("Greg Ward <gward@python.net>").
    assert counts == {"good-1": (1, 1), "textwrap.py": (1, 0), "good-2": (0, 0), "good-3": (0, 0), "heapq.py": (0, 0)}
    assert "gward@python.net" not in exported["textwrap.py"]["text"]
    _, stored = query(root, "SELECT text FROM docs WHERE locator = 'good-1'")
    assert CONTACT in stored[0][0]
    card = (out / "README.md").read_text()
    assert "## Personal information" in card and "| pretrain | 2 | 1 | 0 |" in card and "## Quality rules" in card

    # Labelling samples only the passing documents (unless the gate is off).
    passing = {r[0] for r in candidates(root, seed=0, exclude_labelled=False, limit=100)}
    everything = {r[0] for r in candidates(root, seed=0, exclude_labelled=False, limit=100, passing_only=False)}
    _, kept_ids = query(root, "SELECT id FROM curated")
    assert passing == {r[0] for r in kept_ids} and len(everything) == 10


def test_reruns_resume_and_thresholds_recompute(checked: tuple[Path, Path], tmp_path: Path) -> None:
    _, root = checked
    sources = [
        SourceSpec(path=str(tmp_path / "corpus" / "web.jsonl"), name="web", id_field="name"),
        SourceSpec(path=str(tmp_path / "corpus" / "code"), name="code", format="code"),
    ]
    ingest = IngestConfig(sources=sources, languages=["en"])
    first = quality_flow(str(root), QualityConfig(), policies_for(ingest))
    assert first.computed == first.shards >= 2 and first.docs == 10
    again = quality_flow(str(root), QualityConfig(), policies_for(ingest))
    assert again.computed == 0 and again.run_id == first.run_id and again.kept == first.kept

    # A rule switched off is measured but no longer fails anyone; every shard is recomputed for the change.
    failed_rule = by_locator(root)["repeated"]["failed"]
    relaxed = QualityConfig(skip_rules=failed_rule)
    changed = quality_flow(str(root), relaxed, policies_for(ingest))
    assert changed.computed == changed.shards and changed.run_id != first.run_id
    q = by_locator(root)
    assert q["repeated"]["passed"] and q["repeated"][failed_rule[0]]["value"] is not None
    # The German text is kept once German is a kept language of its source.
    ingest.sources[0].languages = ["en", "de"]
    assert quality_flow(str(root), relaxed, policies_for(ingest)).computed >= 1
    assert by_locator(root)["german"]["lang_ok"]


def test_new_documents_are_not_checked_until_the_rules_run(checked: tuple[Path, Path], tmp_path: Path) -> None:
    config, root = checked
    assert main(["-c", str(config), "-d", str(root), "quality"]) == 0
    extra = write_corpus(tmp_path / "more.jsonl", {"later": gpl_sections(6)[5]})
    assert main(["-d", str(root), "ingest", str(extra), "--name", "later", "--id-field", "name"]) == 0
    _, rows = query(root, "SELECT d.locator, p.reason FROM dropped p JOIN docs d USING (id) WHERE d.source = 'later'")
    assert rows == [("later", "not_checked")]
    assert main(["-c", str(config), "-d", str(root), "quality"]) == 0
    _, rows = query(root, "SELECT locator FROM curated WHERE source = 'later'")
    assert rows == [("later",)]


def test_shards_checked_in_worker_processes_get_the_rows_of_the_task_threads(
    checked: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With two shards or more to check and enough of them, each is checked in a worker process (one per core),
    with the rows a run in the task threads writes."""
    import flows.quality
    from flows.processes import WorkerPool

    _, root = checked
    copy = tmp_path / "copy"
    shutil.copytree(root, copy)
    ingest = IngestConfig(
        sources=[
            SourceSpec(path=str(tmp_path / "corpus" / "web.jsonl"), name="web", id_field="name"),
            SourceSpec(path=str(tmp_path / "corpus" / "code"), name="code", format="code"),
        ],
        languages=["en"],
    )
    calls: list = []
    real_run = WorkerPool.run
    monkeypatch.setattr(WorkerPool, "run", lambda self, fn, *a, **k: calls.append(fn) or real_run(self, fn, *a, **k))
    rows = {}
    for where, data_root, min_bytes in (("threads", root, 1 << 40), ("processes", copy, 0)):
        monkeypatch.setattr(flows.quality, "PROCESS_MIN_BYTES", min_bytes)
        calls.clear()
        summary = quality_flow(str(data_root), QualityConfig(), policies_for(ingest))
        assert summary.computed == summary.shards == 2
        assert len(calls) == (2 if where == "processes" else 0)  # one call per shard
        rows[where] = {loc: {k: v for k, v in r.items() if k != "run_id"} for loc, r in by_locator(data_root).items()}
    assert len(rows["processes"]) == 10
    assert rows["processes"] == rows["threads"]
