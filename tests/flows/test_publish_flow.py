"""`curate export` end to end: a real warehouse (ingest with a bad line, dedup) exported through the CLI,
loaded back offline with `datasets.load_dataset`, the card parsed with huggingface_hub, two exports
compared byte for byte."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import yaml

from flows.cli import main
from tests.curators.dedup.test_clusters import real_texts
from tests.flows.test_dedup_flow import ingest
from warehouse.catalog import query

pytestmark = [pytest.mark.usefixtures("prefect_harness"), pytest.mark.slow]


def digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def make_warehouse(tmp_path: Path, data_root: Path) -> list[str]:
    """8 real documents, an exact copy of one, and a broken line; ingested and deduplicated."""
    texts = real_texts(8)
    corpus = tmp_path / "web.jsonl"
    lines = [json.dumps({"name": f"doc{i}", "text": t}) for i, t in enumerate(texts)]
    lines += [json.dumps({"name": "doc2-copy", "text": texts[2]}), '{"name": "broken", "text": ']
    corpus.write_text("\n".join(lines) + "\n")
    ingest(data_root, corpus, "web")
    assert main(["-d", str(data_root), "dedup"]) == 0
    return texts


def funnel_row(body: str, step: str) -> tuple[int, int]:
    """(documents, tokens) of a step of the card's funnel table."""
    line = next(line for line in body.splitlines() if line.startswith(f"| {step} |"))
    documents, tokens = (c.strip().replace(",", "") for c in line.split("|")[2:4])
    return int(documents), int(tokens)


def tokenizer():  # noqa: ANN201 - a transformers tokenizer
    from curators.publish.tokens import load_tokenizer

    return load_tokenizer("smollm2")


def test_export_loads_with_datasets_and_tells_its_story(
    tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    texts = make_warehouse(tmp_path, data_root)
    capsys.readouterr()

    out = tmp_path / "my-dataset"
    assert main(["-d", str(data_root), "export", str(out), "--rejected"]) == 0
    printed = capsys.readouterr().out
    assert "pretrain" in printed and "rejected" in printed and "load_dataset" in printed

    import datasets

    pretrain = datasets.load_dataset(str(out), "pretrain", split="train")
    _, kept = query(data_root, "SELECT id FROM curated ORDER BY id")
    assert pretrain.num_rows == len(texts) == len(kept)  # the copy is dropped, no filter ran: nothing else
    assert pretrain["id"] == [r[0] for r in kept]
    assert set(pretrain.column_names) >= {"id", "text", "source", "locator", "score", "meta", "ingest_run_id"}
    assert set(pretrain["locator"]) == {f"doc{i}" for i in range(8)} or "doc2-copy" in set(pretrain["locator"])
    rejected = datasets.load_dataset(str(out), "rejected", split="train")
    reasons = {(r["stage"], r["reason"]) for r in rejected}
    assert ("curate", "duplicate") in reasons and ("ingest", "malformed_json") in reasons
    assert rejected.num_rows == 2

    # The card: the Hub's metadata, consistent with the files; the story in the body.
    from huggingface_hub import DatasetCard

    card = DatasetCard.load(out / "README.md")
    meta = yaml.safe_load((out / "README.md").read_text().split("---")[1])
    assert [c["config_name"] for c in meta["configs"]] == ["pretrain", "rejected"]
    assert next(c for c in meta["configs"] if c.get("default"))["config_name"] == "pretrain"
    info = {i["config_name"]: i for i in meta["dataset_info"]}
    assert info["pretrain"]["splits"][0]["num_examples"] == len(texts)
    assert {f["name"] for f in info["pretrain"]["features"]} >= {"id", "text", "score"}
    assert card.data.license == "other" and card.data.size_categories == ["n<1K"]
    body = card.text
    for section in (
        "## Configs",
        "## Funnel",
        "## Pipeline as run",
        "## Deduplication",
        "## Sample records",
    ):
        assert section in body, section
    tokens_line = next(line for line in body.splitlines() if line.startswith("| pretrain |"))
    pretrain_tokens = int(tokens_line.split("|")[3].replace(",", ""))
    assert pretrain_tokens > 1000  # counted with SmolLM2's tokenizer
    # The funnel in documents and tokens: the kept documents' tokens are the pretrain config's; all documents'
    # are the kept ones' plus the duplicate's.
    assert "| step | documents | tokens (smollm2) |" in body
    documents, duplicates, kept = (funnel_row(body, step) for step in ("documents", "duplicates", "kept (`pretrain`)"))
    assert kept == (8, pretrain_tokens) and duplicates[0] == 1
    assert duplicates[1] == len(tokenizer()(texts[2], add_special_tokens=False)["input_ids"])
    assert documents == (9, kept[1] + duplicates[1])
    _, counted = query(data_root, "SELECT count(*), count(DISTINCT tokenizer) FROM doc_tokens_all")
    assert counted == [(9, 1)]

    # Why was a document dropped? One query away.
    _, why = query(data_root, "SELECT d.locator, p.reason, p.detail FROM dropped p JOIN docs d USING (id)")
    assert len(why) == 1 and why[0][0] in ("doc2", "doc2-copy") and why[0][1] == "duplicate"

    # The same warehouse exported again: the same bytes; an earlier export is replaced whole.
    again = tmp_path / "again"
    assert main(["-d", str(data_root), "export", str(again), "--rejected"]) == 0
    first, second = digest(out), digest(again)
    assert query(data_root, "SELECT count(*) FROM doc_tokens_all")[1] == [(9,)]  # counted once, not again
    assert first.keys() == second.keys() and all(first[k] == second[k] for k in first if k != "README.md")
    assert (out / "README.md").read_text().replace("again", "my-dataset") == (again / "README.md").read_text().replace(
        "again", "my-dataset"
    )
    assert main(["-d", str(data_root), "export", str(out), "--config", "pretrain"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["pretrain"]
    capsys.readouterr()
    assert main(["-d", str(data_root), "export", str(tmp_path / "notes"), "--config", "sft2"]) != 0
    assert "unknown export config" in capsys.readouterr().err
