"""Publish flows: `curate export` writes every product of the warehouse as a `datasets`-loadable folder with
its dataset card (one task per config, then the card), swapped into place whole at the end; `curate push`
commits an export to the Hugging Face Hub."""

from __future__ import annotations

import functools
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from curators.errors import CurateError
from curators.publish.card import card_body, card_data, render_card
from curators.publish.config import ExportConfig
from curators.publish.export import ConfigFiles, partial_folder, swap_in, write_config
from curators.publish.hub import push_export
from curators.publish.redact import redact_batch, redacted_schema
from curators.publish.report import write_report
from curators.publish.store import card_facts, product_reader, product_rows
from curators.publish.tokens import count_document_tokens, count_tokens, load_tokenizer, texts_of
from warehouse.lock import writer_lock


class ExportedConfig(BaseModel):
    name: str
    rows: int
    tokens: int | None
    files: list[str]
    download_size: int


class ExportSummary(BaseModel):
    out: str
    configs: list[ExportedConfig]
    skipped: dict[str, str]  # product -> why it is not in the export
    seconds: float


@functools.lru_cache(maxsize=2)
def _tokenizer(spec: str) -> Any:
    return load_tokenizer(spec)


@task(name="export-config", cache_policy=NO_CACHE)
def export_config_task(data_root: str, name: str, folder: str, config: ExportConfig) -> dict[str, Any]:
    """Write one config's files; returns what the card needs (files, sizes, tokens, a sample row)."""
    tokenizer = _tokenizer(config.tokenizer) if config.tokenizer else None
    tokens = 0
    sample: dict[str, Any] | None = None
    redacted: Counter = Counter()

    def counted(reader: Any) -> Any:
        nonlocal tokens, sample
        for batch in reader:
            batch = redact_batch(batch, config.pii, redacted)
            if sample is None and batch.num_rows:
                sample = batch.slice(0, 1).to_pylist()[0]
            texts = texts_of(batch.to_pylist()) if tokenizer is not None else None
            if texts is not None:
                tokens += count_tokens(tokenizer, texts)
            yield batch

    with product_reader(Path(data_root), name, sft_synthetic=config.sft_synthetic) as reader:
        schema = redacted_schema(reader.schema, config.pii)
        files = write_config(Path(folder), name, schema, counted(reader), config.shard_bytes)
    return {
        "files": files,
        "tokens": tokens
        if tokenizer is not None and texts_of([dict.fromkeys(files.schema.names)]) is not None
        else None,
        "sample": sample,
        "pii": dict(redacted) if config.pii.enabled else None,
    }


@task(name="count-document-tokens", cache_policy=NO_CACHE)
def count_document_tokens_task(data_root: str, tokenizer: str) -> int:
    """Tokens of the documents `tokenizer` has not counted yet (the funnel in tokens); returns how many."""
    return count_document_tokens(Path(data_root), tokenizer, _tokenizer(tokenizer))


@flow(name="export")
def export_flow(
    data_root: str, out: str, config: ExportConfig, masked_config: dict[str, Any], wait: float | None = None
) -> ExportSummary:
    """Every chosen product with rows as a config of `out`, and the dataset card. `masked_config` is the
    effective configuration with secrets masked (the card shows it)."""
    root = Path(data_root).resolve()
    started = time.monotonic()
    out_path = Path(out).resolve()
    with writer_lock(root, wait=wait, command="curate export"):  # a consistent snapshot: no writer meanwhile
        rows = product_rows(root, config.sft_synthetic)
        chosen = config.chosen([name for name, n in rows.items() if n])
        skipped = {name: "no rows" for name in (config.configs or []) if not rows.get(name)}
        skipped |= {n: "no rows" for n in rows if not rows[n] and n not in skipped and n != "rejected"}
        if not any(rows.get(name) for name in chosen):
            raise CurateError(
                "nothing to export: the warehouse has no documents or generations that passed",
                hint="run `curate run` (or `curate ingest PATH`) first; `curate status` shows what is there",
            )
        if config.tokenizer:
            count_document_tokens_task(str(root), config.tokenizer)
        partial = partial_folder(out_path)
        try:
            written: dict[str, dict[str, Any]] = {}
            for name in chosen:
                written[name] = export_config_task(str(root), name, str(partial), config)
            files: list[ConfigFiles] = [w["files"] for w in written.values()]
            title = config.pretty_name or out_path.name
            facts = card_facts(root, config.tokenizer)
            facts["pii"] = {name: w["pii"] for name, w in written.items() if w["pii"] is not None}
            facts["pii_config"] = config.pii.model_dump() if config.pii.enabled else None
            body = card_body(
                title,
                files,
                {name: w["tokens"] for name, w in written.items()},
                {name: w["sample"] for name, w in written.items() if w["sample"] is not None},
                facts,
                masked_config,
                config.tokenizer,
            )
            card = render_card(card_data(files, config, title, [r["flow"] for r in facts["runs"]]), body)
            (partial / "README.md").write_text(card, encoding="utf-8")
            swap_in(partial, out_path)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)  # the previous export, if any, stays whole
            raise
    return ExportSummary(
        out=str(out_path),
        configs=[
            ExportedConfig(
                name=f.name, rows=f.rows, tokens=written[f.name]["tokens"], files=f.files, download_size=f.download_size
            )
            for f in files
        ],
        skipped=skipped,
        seconds=round(time.monotonic() - started, 2),
    )


class PushSummary(BaseModel):
    repo_url: str
    commit_url: str | None
    files: int
    attempts: int


@flow(name="push")
def push_flow(folder: str, repo_id: str, private: bool = False, revision: str | None = None) -> PushSummary:
    """Commit the export in `folder` to the dataset repository `repo_id`. The token is read from HF_TOKEN in
    the process environment (never a flow parameter)."""
    pushed = push_export(Path(folder), repo_id, os.environ.get("HF_TOKEN") or None, private, revision)
    return PushSummary(**pushed.__dict__)


class ReportSummary(BaseModel):
    path: str
    sections: int


@flow(name="report")
def report_flow(
    data_root: str, out: str | None = None, tokenizer: str | None = None, wait: float | None = None
) -> ReportSummary:
    """The HTML report of the warehouse (default: `<data root>/report.html`). With a `tokenizer`, the tokens of
    documents not counted yet are counted first, so the funnel is told in tokens too."""
    root = Path(data_root).resolve()
    if tokenizer:
        with writer_lock(root, wait=wait, command="curate report"):
            count_document_tokens_task(str(root), tokenizer)
    path, sections = write_report(root, Path(out) if out else root / "report.html", tokenizer=tokenizer)
    return ReportSummary(path=str(path), sections=sections)
