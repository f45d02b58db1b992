"""`curate`: the command line. Commands that run a flow import it inside the command; the others
(`sql`, `status`, `config`) never import Prefect, torch or sentence-transformers, and answer at once.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import typer
import yaml
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from curators.config import CurateConfig, SourceSpec, config_template, load_config
from curators.errors import CurateError, NotEnoughLabels

HELP = """Curate training data for small language models: ingest corpora, label a sample with an LLM,
train an educational-value filter, score, deduplicate, and generate synthetic data.

Data lives under the data root (--data-root, CURATE_DATA, or `settings.data_root` in curate.yaml;
default ./curate-data): Parquet shards plus a DuckDB catalog you can query with `curate sql`.
"""

app = typer.Typer(
    help=HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
config_app = typer.Typer(help="Show or create the configuration (curate.yaml).", no_args_is_help=True)
app.add_typer(config_app, name="config")

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@dataclass
class Context:
    config_path: Path | None
    data_root: Path | None
    verbose: bool
    debug: bool

    def config(self, overrides: dict[str, Any] | None = None) -> CurateConfig:
        merged: dict[str, Any] = dict(overrides or {})
        if self.data_root is not None:
            merged.setdefault("settings", {})["data_root"] = str(self.data_root)
        return load_config(self.config_path, merged)


def _ctx(ctx: typer.Context) -> Context:
    return ctx.obj


@app.callback()
def _main(
    ctx: typer.Context,
    config: Path | None = typer.Option(
        None,
        "--config",
        "-c",
        help="Config file (default: ./curate.yaml when it exists).",
        envvar="CURATE_CONFIG",
    ),
    data_root: Path | None = typer.Option(
        None, "--data-root", "-d", help="Warehouse folder (overrides CURATE_DATA and the config)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show Prefect's own logs."),
    debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an error."),
) -> None:
    ctx.obj = Context(config_path=config, data_root=data_root, verbose=verbose, debug=debug)


# ---------------------------------------------------------------------------------------------
# Flow commands
# ---------------------------------------------------------------------------------------------


def _prepare_flow_environment(config: CurateConfig, verbose: bool) -> None:
    from flows.env import configure_environment

    configure_environment(config.settings.data_root, verbose=verbose)


def _run_ingest(config: CurateConfig, verbose: bool, fresh: bool, wait: float | None) -> None:
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from curators.sources import plan_units
    from warehouse.lock import writer_lock

    # Plan first: a wrong path or an unknown format fails here, before Prefect starts.
    plan = plan_units(config.ingest)
    root = config.settings.data_root.resolve()
    _prepare_flow_environment(config, verbose)
    with writer_lock(root, wait=wait, command="curate ingest"):
        from flows import progress as progress_registry
        from flows.ingest import ingest_flow

        counter = {"records": 0}
        columns = (
            TextColumn("[bold]ingest[/]"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TextColumn("{task.fields[records]:,} records"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
        )
        with Progress(*columns, console=err, transient=False, disable=not err.is_terminal) as bar:
            task_id = bar.add_task("ingest", total=plan.n_bytes or None, records=0)

            def advance(records: int, n_bytes: int) -> None:
                counter["records"] += records
                bar.update(task_id, advance=n_bytes, records=counter["records"])

            progress_registry.register(str(root), advance)
            try:
                started = time.monotonic()
                summary = ingest_flow(str(root), config.ingest, fresh=fresh, wait=wait)
                elapsed = time.monotonic() - started
            finally:
                progress_registry.unregister(str(root))
            bar.update(task_id, completed=plan.n_bytes)
    _print_ingest_summary(summary, elapsed)
    if summary.units_failed:
        raise CurateError(
            f"{len(summary.units_failed)} of {summary.units} units failed; their finished shards are kept",
            hint="rerun the same command to retry only what is missing:\n    "
            + "\n    ".join(summary.units_failed[:5]),
        )


def _print_ingest_summary(summary: Any, elapsed: float) -> None:
    balanced = summary.seen == summary.ingested + summary.rejected
    out.print(
        f"[bold]ingest[/] run {summary.run_id}: seen {summary.seen:,} = ingested {summary.ingested:,} "
        f"+ rejected {summary.rejected:,}"
        + ("" if balanced else "  [red](MISMATCH)[/]")
        + f"  ({summary.units} units, {summary.units_skipped} already done, {elapsed:.1f}s)"
    )
    if summary.rejects_by_reason:
        out.print(
            "  rejected: "
            + ", ".join(f"{k} {v:,}" for k, v in summary.rejects_by_reason.items())
            + '   (see `curate sql "SELECT * FROM rejects"`)'
        )
    if summary.files_not_read:
        shown = sorted(summary.files_not_read.items(), key=lambda kv: -kv[1])[:8]
        out.print(
            "  files not read (other extensions; use --format/--ext to include): "
            + ", ".join(f"{ext} {n}" for ext, n in shown)
        )


@app.command()
def run(
    ctx: typer.Context,
    fresh: bool = typer.Option(False, "--fresh", help="Start a new run instead of resuming the last one."),
    wait: float | None = typer.Option(
        None, "--wait", help="Seconds to wait for another writer of the same data root (-1: forever)."
    ),
) -> None:
    """Run the main job on the configured sources (default: the built-in `python-stdlib` corpus):
    ingest, label a small diverse sample with the LLM (run.label_n documents; the embedded endpoint
    unless one is configured), train the filter when the labels allow it, score every document,
    deduplicate (exact + MinHash near-duplicates; `curated` leaves them out), and print the status
    summary. Rerunning resumes and skips finished work."""
    c = _ctx(ctx)
    config = c.config()
    _run_ingest(config, c.verbose, fresh, wait)
    if config.run.label_n:
        label_config = config.label.model_copy(
            update={"n": config.run.label_n, "max_doc_tokens": config.run.label_max_doc_tokens}
        )
        _run_label(config, label_config, c.verbose, fresh, wait)
    if config.run.label_n and config.run.train_and_score:
        from curators.quality import check_trainable

        try:
            check_trainable(config.settings.data_root, config.filter)
            _run_train(config, c.verbose, wait)
        except NotEnoughLabels as exc:
            err.print(f"[yellow]training skipped:[/] {escape(exc.message)}")
            if exc.hint:
                err.print(f"  hint: {exc.hint}", markup=False, highlight=False)
        else:
            _run_score(config, c.verbose, None, "local", None, wait)
    if config.run.dedup:
        _run_dedup(config, c.verbose, "docs", [], "local", None, wait)
    _print_status(config.settings.data_root)


@app.command()
def ingest(
    ctx: typer.Context,
    sources: list[str] | None = typer.Argument(
        None,
        help="Files or folders to read, or 'python-stdlib'. Default: the sources in curate.yaml.",
        show_default=False,
    ),
    format: str = typer.Option(
        "auto",
        "--format",
        "-f",
        help="Reader: auto (by extension/content), jsonl (.jsonl/.json/.gz/.zst), parquet, csv (.csv/.tsv), "
        "text (folder of .txt/.md/.rst), code (folder of source files), hf (datasets.save_to_disk folder).",
    ),
    name: str | None = typer.Option(None, "--name", help="Value of the `source` column (default: the path)."),
    text_field: str = typer.Option("text", "--text-field", help="Column/key holding the text."),
    id_field: str | None = typer.Option(None, "--id-field", help="Column/key used as the document locator."),
    meta_field: list[str] | None = typer.Option(
        None, "--meta-field", help="Column kept as metadata (repeatable; default: all other columns)."
    ),
    ext: list[str] | None = typer.Option(None, "--ext", help="File extension read from folders (repeatable)."),
    encoding: str = typer.Option("utf-8", "--encoding", help="Encoding of text files; bad bytes are rejected."),
    shard_rows: int | None = typer.Option(None, "--shard-rows", help="Rows per output shard."),
    max_doc_bytes: int | None = typer.Option(None, "--max-doc-bytes", help="Reject documents larger than this."),
    fresh: bool = typer.Option(False, "--fresh", help="Start a new run instead of resuming the last one."),
    wait: float | None = typer.Option(
        None, "--wait", help="Seconds to wait for another writer of the same data root (-1: forever)."
    ),
) -> None:
    """Read sources into the `docs` table; bad input goes to `rejects` with a reason.

    Every input record ends in exactly one of the two (seen = ingested + rejected). A killed run,
    rerun with the same arguments, continues from its last complete shard.
    """
    c = _ctx(ctx)
    ingest_overrides: dict[str, Any] = {}
    if sources:
        ingest_overrides["sources"] = [
            SourceSpec(
                path=s,
                format=format,
                name=name if len(sources) == 1 else None,
                text_field=text_field,
                id_field=id_field,
                meta_fields=meta_field or None,
                extensions=ext or None,
                encoding=encoding,
            ).model_dump()
            for s in sources
        ]
    if shard_rows is not None:
        ingest_overrides["shard_rows"] = shard_rows
    if max_doc_bytes is not None:
        ingest_overrides["max_doc_bytes"] = max_doc_bytes
    config = c.config({"ingest": ingest_overrides} if ingest_overrides else None)
    _run_ingest(config, c.verbose, fresh, wait)


def _run_label(config: CurateConfig, label: Any, verbose: bool, fresh: bool, wait: float | None) -> Any:
    from warehouse.lock import writer_lock

    root = config.settings.data_root.resolve()
    _prepare_flow_environment(config, verbose)
    if config.settings.llm_api_key:  # the flow's task reads the key from the environment, never from parameters
        os.environ.setdefault("CURATE_LLM_API_KEY", config.settings.llm_api_key.get_secret_value())
    with writer_lock(root, wait=wait, command="curate label"):
        from flows import progress as progress_registry
        from flows.label import label_flow

        bar, advance = _llm_progress("label", label.n)
        with bar:
            progress_registry.register(str(root), advance)
            try:
                summary = label_flow(
                    str(root),
                    label,
                    config.llm,
                    config.embed,
                    base_url=config.settings.llm_base_url,
                    model=config.settings.llm_model,
                    fresh=fresh,
                    wait=wait,
                )
            finally:
                progress_registry.unregister(str(root))
    out.print(
        f"[bold]label[/] run {summary.run_id} with {summary.model}: {summary.sampled} sampled · ok {summary.ok} · "
        f"invalid {summary.invalid} · failed {summary.failed} · cache hits {summary.cache_hits} · "
        f"{summary.http_requests} requests · tokens in {summary.tokens_in:,} / out {summary.tokens_out:,} · "
        f"${summary.cost_usd:.4f}"
    )
    if summary.failed:
        out.print(
            "  failed items keep their reason: `curate sql \"SELECT id, error FROM labels WHERE status <> 'ok'\"`;"
            " rerun to retry them (answers already paid for are not asked again)"
        )
    return summary


@app.command()
def label(
    ctx: typer.Context,
    n: int | None = typer.Option(None, "--n", help="Documents to label (default: label.n in the config, 200)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the sample."),
    strategy: str | None = typer.Option(
        None, "--strategy", help="diverse (default: per source, k-means spread + random fill) or random."
    ),
    more: int | None = typer.Option(
        None, "--more", help="Top-up round: label N documents the newest filter is least sure about."
    ),
    prompt: str | None = typer.Option(
        None, "--prompt", help="task[@version] (default: edu-code for code, edu for prose)."
    ),
    max_doc_tokens: int | None = typer.Option(
        None, "--max-doc-tokens", help="Cut documents to this many tokens (~4 chars each; default 1024)."
    ),
    local_model: str | None = typer.Option(
        None,
        "--local-model",
        help="Packaged model or .gguf path for the embedded endpoint (see `curate llm models`).",
    ),
    fresh: bool = typer.Option(False, "--fresh", help="Start a new run instead of resuming the last one."),
    wait: float | None = typer.Option(None, "--wait", help="Seconds to wait for another writer (-1: forever)."),
) -> None:
    """Label a sample of documents for educational value (0-5) with an LLM.

    Uses the configured endpoint (CURATE_LLM_BASE_URL + CURATE_LLM_MODEL), else starts the embedded
    llama.cpp server. Answers are cached in the warehouse: a rerun pays for nothing twice.
    """
    c = _ctx(ctx)
    given = {
        "n": n,
        "seed": seed,
        "prompt": prompt,
        "max_doc_tokens": max_doc_tokens,
        "strategy": strategy,
        "more": more,
    }
    overrides: dict[str, Any] = {"label": {k: v for k, v in given.items() if v is not None}}
    if local_model:
        overrides["llm"] = {"local_model": local_model}
    config = c.config(overrides)
    _run_label(config, config.label, c.verbose, fresh, wait)


@app.command()
def train(
    ctx: typer.Context,
    kind: str | None = typer.Option(None, "--kind", help="regressor (default) or classifier."),
    threshold: int | None = typer.Option(None, "--threshold", help="keep = predicted score >= this (default 3)."),
    prompt: str | None = typer.Option(None, "--prompt", help="Train on labels of this prompt id prefix only."),
    wait: float | None = typer.Option(None, "--wait", help="Seconds to wait for another writer (-1: forever)."),
) -> None:
    """Train the educational-value filter: a random forest over sentence embeddings of the labelled
    documents. Prints held-out metrics beside a majority-class baseline."""
    c = _ctx(ctx)
    given = {"kind": kind, "threshold": threshold, "prompt": prompt}
    _run_train(c.config({"filter": {k: v for k, v in given.items() if v is not None}}), c.verbose, wait)


def _run_train(config: CurateConfig, verbose: bool, wait: float | None) -> None:
    _prepare_flow_environment(config, verbose)
    root = config.settings.data_root.resolve()
    from warehouse.lock import writer_lock

    with writer_lock(root, wait=wait, command="curate train"):
        from flows.train import train_flow

        card = train_flow(str(root), config.filter, config.embed, wait=wait)
    _print_filter_card(card)
    from warehouse.catalog import query as run_query

    _, rows = run_query(
        root, "SELECT filter_id, kind, n_labels, f1, baseline_f1, created FROM filters ORDER BY created"
    )
    if len(rows) > 1:  # label rounds: how the held-out F1 moves as labels are added
        history = Table("filter", "kind", "labels", "held-out F1", "baseline F1", "trained")
        for fid, kind_, n_labels, f1, base_f1, created in rows:
            history.add_row(fid, kind_, str(n_labels), f"{f1:.3f}", f"{base_f1:.3f}", f"{created:%Y-%m-%d %H:%M}")
        out.print(history)


def _print_filter_card(card: dict[str, Any]) -> None:
    metrics = card["metrics"]
    out.print(
        f"[bold]filter[/] {card['filter_id']} ({card['kind']}, {card['n_labels']} labels, "
        f"{metrics['evaluation']}, threshold {card['threshold']}, embedder {card['embedder']})"
    )
    table = Table("", "precision", "recall", "F1", "macro-F1", "MAE")
    for name, key in (("filter", "filter"), ("majority baseline", "majority_baseline")):
        m = metrics[key]
        table.add_row(
            name,
            f"{m['precision']:.3f}",
            f"{m['recall']:.3f}",
            f"{m['f1']:.3f}",
            f"{m['macro_f1']:.3f}",
            f"{m['mae']:.2f}",
        )
    out.print(table)
    out.print("label counts (score: n): " + ", ".join(f"{k}: {v}" for k, v in card["label_counts"].items()))


@app.command()
def score(
    ctx: typer.Context,
    filter_id: str | None = typer.Option(None, "--filter", help="Filter id (default: the newest)."),
    runner: str = typer.Option("local", "--runner", help="local (threads) or dask."),
    dask_address: str | None = typer.Option(
        None,
        "--dask-address",
        help="tcp://host:port of a Dask scheduler (default: a LocalCluster, a process per core).",
    ),
    wait: float | None = typer.Option(None, "--wait", help="Seconds to wait for another writer (-1: forever)."),
) -> None:
    """Score every document with the filter, shard by shard (resumable): writes `embeddings` and `scores`;
    the view `curated` holds the documents kept."""
    if runner not in ("local", "dask"):
        raise CurateError(f"unknown runner {runner!r}", hint="use --runner local or --runner dask")
    c = _ctx(ctx)
    _run_score(c.config(), c.verbose, filter_id, runner, dask_address, wait)


def _run_score(
    config: CurateConfig,
    verbose: bool,
    filter_id: str | None,
    runner: str,
    dask_address: str | None,
    wait: float | None,
) -> None:
    _prepare_flow_environment(config, verbose)
    root = config.settings.data_root.resolve()
    from warehouse.lock import writer_lock

    with writer_lock(root, wait=wait, command="curate score"):
        from flows.score import score_flow, task_runner

        started = time.monotonic()
        flow = score_flow.with_options(task_runner=task_runner(runner, dask_address))
        summary = flow(str(root), config.embed, filter_id=filter_id, wait=wait, prefetch=runner == "local")
    out.print(
        f"[bold]score[/] {summary.docs:,} documents in {summary.shards} shards with {summary.filter_id}: "
        f"kept {summary.kept:,} ({summary.kept / max(1, summary.docs):.1%}) in "
        f'{time.monotonic() - started:.1f}s — see `curate sql "SELECT * FROM curated"`'
    )


@app.command()
def dedup(
    ctx: typer.Context,
    target: str = typer.Option("docs", "--target", help="What to deduplicate: docs or generations."),
    against: list[str] = typer.Option(
        [], "--against", help="Also compare with this table (never dropped), e.g. --target generations --against docs."
    ),
    threshold: float | None = typer.Option(None, "--threshold", help="Jaccard at or above which two are duplicates."),
    ngram: int | None = typer.Option(None, "--ngram", help="Shingle size (words, or characters with --char)."),
    char: bool = typer.Option(False, "--char", help="Character shingles instead of word shingles."),
    bands: int | None = typer.Option(None, "--bands", help="LSH bands (with --rows; default: from the threshold)."),
    rows: int | None = typer.Option(None, "--rows", help="Rows per band."),
    num_perm: int | None = typer.Option(None, "--num-perm", help="Permutations when bands/rows are derived."),
    verify: str | None = typer.Option(None, "--verify", help="jaccard (exact, default) or minhash (estimate)."),
    keep: str | None = typer.Option(
        None, "--keep", help="Survivor policy, comma-separated: score,length,earliest (the default order)."
    ),
    semantic: str | None = typer.Option(None, "--semantic", help="off, report or remove: cosine near-duplicates."),
    no_exact: bool = typer.Option(False, "--no-exact", help="Skip exact duplicates."),
    no_near: bool = typer.Option(False, "--no-near", help="Skip MinHash near-duplicates."),
    runner: str = typer.Option("local", "--runner", help="local (threads) or dask (a process per core)."),
    dask_address: str | None = typer.Option(None, "--dask-address", help="tcp://host:port of a Dask scheduler."),
    wait: float | None = typer.Option(None, "--wait", help="Seconds to wait for another writer (-1: forever)."),
) -> None:
    """Find exact and near-duplicates (MinHash LSH, verified by Jaccard) and write `dups`: every dropped
    document with the survivor it duplicates (`dup_of`), the member it matched and the similarity.
    Nothing is deleted; `curated` leaves duplicates out. Signatures are kept and reused: a rerun after new
    data computes signatures only for the new shards and verifies only new candidate pairs."""
    if target not in ("docs", "generations") or any(a not in ("docs", "generations") for a in against):
        raise CurateError(f"unknown target {target!r}", hint="use --target docs or --target generations")
    if runner not in ("local", "dask"):
        raise CurateError(f"unknown runner {runner!r}", hint="use --runner local or --runner dask")
    minhash: dict[str, Any] = {}
    for key, value in (("threshold", threshold), ("ngram", ngram), ("bands", bands), ("rows", rows)):
        if value is not None:
            minhash[key] = value
    if num_perm is not None:
        minhash["num_perm"] = num_perm
    if char:
        minhash["shingle"] = "char"
    section: dict[str, Any] = {"minhash": minhash} if minhash else {}
    if verify is not None:
        section["verify"] = verify
    if keep is not None:
        section["keep"] = [k.strip() for k in keep.split(",") if k.strip()]
    if semantic is not None:
        section["semantic"] = semantic
    if no_exact:
        section["exact"] = False
    if no_near:
        section["near"] = False
    c = _ctx(ctx)
    config = c.config({"dedup": section} if section else None)
    _run_dedup(config, c.verbose, target, against, runner, dask_address, wait)


def _run_dedup(
    config: CurateConfig,
    verbose: bool,
    target: str,
    against: list[str],
    runner: str,
    dask_address: str | None,
    wait: float | None,
) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    _prepare_flow_environment(config, verbose)
    root = config.settings.data_root.resolve()
    from curators.dedup_stage import target_shards
    from warehouse.lock import writer_lock

    if not target_shards(root, target):  # said before Prefect starts: no flow failure for an expected case
        raise CurateError(
            f"nothing to deduplicate: no {target} yet",
            hint="run `curate ingest` first" if target == "docs" else "run `curate synth textbooks` first",
        )
    with writer_lock(root, wait=wait, command="curate dedup"):
        from flows import progress as progress_registry
        from flows.dedup import dedup_flow
        from flows.score import task_runner

        started = time.monotonic()
        columns = (
            TextColumn("[bold]{task.description:<17}[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(),
        )
        shards = len({s for t in [target, *against] for s in target_shards(root, t)})
        with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
            signing = bar.add_task("signatures", total=shards, note="shards")
            verifying = bar.add_task("verify candidates", total=None, note="pairs")
            signed = {"docs": 0}

            def signed_shard(shards_done: int, docs: int) -> None:
                signed["docs"] += docs
                bar.update(signing, advance=shards_done, note=f"shards · {signed['docs']:,} documents")

            def verified(done: int, total: int) -> None:
                bar.update(verifying, completed=done, total=total)

            progress_registry.register(f"minhash:{root}", signed_shard)
            progress_registry.register(f"dedup:{root}", verified)
            try:
                flow = dedup_flow.with_options(task_runner=task_runner(runner, dask_address))
                summary = flow(str(root), config.dedup, target=target, against=against, wait=wait)
            finally:
                progress_registry.unregister(f"minhash:{root}")
                progress_registry.unregister(f"dedup:{root}")
    _print_dedup_summary(summary, time.monotonic() - started)
    return summary


def _print_dedup_summary(summary: Any, elapsed: float) -> None:
    rate = summary.dups / max(1, summary.documents)
    out.print(
        f"[bold]dedup[/] {summary.target}: {summary.documents:,} documents, {summary.dups:,} duplicates ({rate:.2%}) "
        f"in {summary.clusters:,} clusters in {elapsed:.1f}s"
    )
    methods = ", ".join(f"{m} {n:,}" for m, n in sorted(summary.by_method.items())) or "none"
    out.print(f"  by method: {methods}")
    out.print(
        f"  signatures: {summary.shards_computed} of {summary.shards} shards computed now (the rest reused); "
        f"candidate pairs {summary.candidates:,}: {summary.verified:,} verified now, {summary.reused:,} reused"
    )
    if summary.semantic_pairs:
        out.print(f"  semantic pairs (cosine): {summary.semantic_pairs:,}")
    curve = summary.curve
    table = Table("Jaccard", *curve["p_candidate"].keys(), title=f"LSH {curve['bands']} bands x {curve['rows']} rows")
    table.add_row("P(candidate)", *(f"{p:.3f}" for p in curve["p_candidate"].values()))
    out.print(table)
    out.print('  see `curate sql "SELECT * FROM dups"`; `curated` leaves them out')


synth_app = typer.Typer(
    help="Synthetic data: textbooks from diversity seeds, exercises from textbooks, quality gates, report.",
    no_args_is_help=True,
)
app.add_typer(synth_app, name="synth")


def _llm_progress(label: str, total: int | None) -> tuple[Any, Any]:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(
            "{task.fields[rate]} · ok {task.fields[ok]} · invalid {task.fields[invalid]} · "
            "failed {task.fields[failed]} · cached {task.fields[cached]} · "
            "{task.fields[tokens]:,} tok · ${task.fields[cost]:.4f}"
        ),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    bar = Progress(*columns, console=err, disable=not err.is_terminal)
    task_id = bar.add_task(label, total=total, ok=0, invalid=0, failed=0, cached=0, tokens=0, cost=0.0, rate="")

    def advance(result: Any, stats: Any) -> None:
        elapsed = max(1e-6, time.monotonic() - stats.started)
        bar.update(
            task_id,
            completed=stats.done,
            ok=stats.ok,
            invalid=stats.invalid,
            failed=stats.failed,
            cached=stats.cache_hits,
            tokens=stats.tokens_in + stats.tokens_out,
            cost=stats.cost_usd,
            rate=f"{stats.done / elapsed:.2f} items/s",
        )

    return bar, advance


def _print_generation_summary(summary: Any) -> None:
    statuses = " · ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items())) or "nothing"
    out.print(
        f"[bold]{summary.task}s[/] run {summary.run_id} with {summary.model}: {statuses} · cache hits "
        f"{summary.cache_hits} · {summary.http_requests} requests · tokens in {summary.tokens_in:,} / out "
        f"{summary.tokens_out:,} · ${summary.cost_usd:.4f}"
    )
    if any(k != "ok" for k in summary.by_status):
        out.print(
            '  every outcome keeps its reason: `curate sql "SELECT status, reason, count(*) FROM generations '
            'GROUP BY ALL"`'
        )


def _run_synth(config: CurateConfig, verbose: bool, what: str, fresh: bool, wait: float | None, gates: bool) -> Any:
    from warehouse.lock import writer_lock

    root = config.settings.data_root.resolve()
    _prepare_flow_environment(config, verbose)
    if config.settings.llm_api_key:  # the flow's task reads the key from the environment, never from parameters
        os.environ.setdefault("CURATE_LLM_API_KEY", config.settings.llm_api_key.get_secret_value())
    with writer_lock(root, wait=wait, command=f"curate synth {what}"):
        from flows import progress as progress_registry
        from flows.synth import exercises_flow, gates_flow, textbooks_flow

        summary = None
        if what in ("textbooks", "exercises"):
            total = config.synth.seeds.n if what == "textbooks" else None
            bar, advance = _llm_progress(what, total)
            progress_registry.register(str(root), advance)
            try:
                with bar:
                    flow = textbooks_flow if what == "textbooks" else exercises_flow
                    summary = flow(
                        str(root),
                        config.synth,
                        config.llm,
                        base_url=config.settings.llm_base_url,
                        model=config.settings.llm_model,
                        fresh=fresh,
                        wait=wait,
                    )
            finally:
                progress_registry.unregister(str(root))
            _print_generation_summary(summary)
        if gates:
            started = time.monotonic()
            found = gates_flow(str(root), config.synth, config.dedup, config.embed, wait=wait)
            _print_gates(root, found, time.monotonic() - started)
    return summary


def _print_gates(root: Path, found: Any, elapsed: float) -> None:
    from curators.synth.gates import summary_json

    d = found.dedup
    out.print(
        f"[bold]gates[/] in {elapsed:.1f}s: near-duplicates {d.dups:,} of {d.documents:,} "
        f"({', '.join(f'{m} {n}' for m, n in sorted(d.by_method.items())) or 'none'}) · "
        f"contaminated {found.decontam_flagged:,} of {found.decontam_checked:,} checked · scored {found.scored:,}"
        + (f" with {found.filter_id}" if found.filter_id else "")
    )
    for note in found.skipped:
        out.print(f"  skipped {note}")
    counts = summary_json(root)
    out.print(
        "  generations {generations:,} · ok {ok:,} · duplicates {duplicates:,} · contaminated {contaminated:,} · "
        "scored {scored:,} · usable {usable:,}".format(**counts)
        + ' — see `curate sql "SELECT * FROM synthetic"` and `curate synth report`'
    )


def _synth_overrides(n: int | None, seed: int | None, mode: str | None, max_tokens: int | None) -> dict[str, Any]:
    section: dict[str, Any] = {}
    seeds: dict[str, Any] = {}
    if n is not None:
        seeds["n"] = n
    if seed is not None:
        seeds["seed"] = seed
    if mode is not None:
        seeds["mode"] = mode
    if seeds:
        section["seeds"] = seeds
    if max_tokens is not None:
        section["textbook"] = {"max_tokens": max_tokens}
    return {"synth": section} if section else {}


@synth_app.command("textbooks")
def synth_textbooks(
    ctx: typer.Context,
    n: int | None = typer.Option(None, "--n", help="Seeds, one textbook each (default: synth.seeds.n, 100)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the seed sampler (same seed: same seeds)."),
    mode: str | None = typer.Option(
        None, "--mode", help="taxonomy (topic x audience x style x persona x words) or web (top curated documents)."
    ),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Longest generation, in tokens."),
    gates: bool = typer.Option(True, "--gates/--no-gates", help="Then dedup, decontaminate and score them."),
    fresh: bool = typer.Option(False, "--fresh", help="Start a new run instead of resuming the same one."),
    wait: float | None = typer.Option(None, "--wait", help="Seconds to wait for another writer (-1: forever)."),
) -> None:
    """Generate textbooks from diversity seeds (resumable; answers cached and cost-accounted), then run the
    quality gates: near-duplicates (among generations and against curated documents), benchmark
    contamination, and the educational score of the trained filter. See them in the `synthetic` view."""
    c = _ctx(ctx)
    config = c.config(_synth_overrides(n, seed, mode, max_tokens))
    _run_synth(config, c.verbose, "textbooks", fresh, wait, gates)


@synth_app.command("exercises")
def synth_exercises(
    ctx: typer.Context,
    per_textbook: int | None = typer.Option(None, "--per-textbook", help="Exercises per textbook (default 3)."),
    gates: bool = typer.Option(True, "--gates/--no-gates", help="Then dedup, decontaminate and score them."),
    fresh: bool = typer.Option(False, "--fresh", help="Start a new run instead of resuming the same one."),
    wait: float | None = typer.Option(None, "--wait", help="Seconds to wait for another writer (-1: forever)."),
) -> None:
    """Write exercises with worked solutions from each textbook of the latest textbook run (programming
    topics: a function signature + docstring and its solution), linked to their textbook by parent_id."""
    c = _ctx(ctx)
    overrides = {"synth": {"exercises": {"per_textbook": per_textbook}}} if per_textbook else None
    _run_synth(c.config(overrides), c.verbose, "exercises", fresh, wait, gates)


@synth_app.command("gates")
def synth_gates(
    ctx: typer.Context,
    wait: float | None = typer.Option(None, "--wait", help="Seconds to wait for another writer (-1: forever)."),
) -> None:
    """(Re)run the quality gates over every generation: dedup, decontamination, score."""
    c = _ctx(ctx)
    _run_synth(c.config(), c.verbose, "gates", False, wait, True)


@synth_app.command("report")
def synth_report(
    ctx: typer.Context,
    task: str | None = typer.Option(None, "--task", help="Only textbook or exercise generations."),
    sample_size: int | None = typer.Option(None, "--sample-size", help="Texts per sample-based metric."),
) -> None:
    """Diversity of the generations: near-duplicate rate, most common openings, distinct-n, compression
    ratio, embedding neighbours, tokens and cost, overall and per axis value; contamination per benchmark."""
    from curators.synth.gates import report

    c = _ctx(ctx)
    config = c.config({"synth": {"diversity": {"sample_size": sample_size}}} if sample_size else None)
    out.print(report(config.settings.data_root.resolve(), config.synth.diversity, task), markup=False, highlight=False)


llm_app = typer.Typer(help="The embedded LLM endpoint (llama.cpp's OpenAI-compatible server).", no_args_is_help=True)
app.add_typer(llm_app, name="llm")


@llm_app.command("models")
def llm_models() -> None:
    """Packaged models for the embedded endpoint, and whether each is installed."""
    from curators.local_llm import DEFAULT_MODEL, MODELS, _package_dir

    table = Table()
    table.add_column("model", no_wrap=True)
    for column in ("installed", "size", "notes"):
        table.add_column(column)
    for name, m in MODELS.items():
        installed = all(_package_dir(module) is not None for module, _ in m.parts)
        table.add_row(
            name + (" (default)" if name == DEFAULT_MODEL else ""),
            "yes" if installed else "no",
            f"{m.size / 1e6:,.0f} MB",
            m.description + ("" if installed else f"\ninstall: {m.install_hint()}"),
        )
    out.print(table)


@llm_app.command("serve")
def llm_serve(
    ctx: typer.Context,
    model: str | None = typer.Option(None, "--model", help="Packaged model name or .gguf path (default: config)."),
    n_ctx: int = typer.Option(4096, "--n-ctx", help="Context window in tokens."),
    detach: bool = typer.Option(
        False, "--detach", help="Keep serving in the background; LLM stages of this data root use it."
    ),
) -> None:
    """Start the embedded endpoint. In the foreground it serves until Ctrl-C."""
    from curators.local_llm import load_state, save_state, start_server

    config = _ctx(ctx).config()
    root = config.settings.data_root
    running = load_state(root)
    if running is not None:
        raise CurateError(
            f"a server for {root} is already running at {running.base_url} (pid {running.pid})",
            hint="`curate llm stop` stops it",
        )
    name = model or config.llm.local_model
    err.print(f"starting llama.cpp server on {name} ...")
    server = start_server(
        name, n_ctx=n_ctx, n_threads=config.llm.local_threads, log_dir=Path(root) / "llm", detached=detach
    )
    out.print(f"serving {server.model} at {server.base_url} (pid {server.pid}, log {server.log})")
    if detach:
        save_state(root, server)
        return
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


@llm_app.command("status")
def llm_status(ctx: typer.Context) -> None:
    """Is a detached embedded server running for this data root?"""
    from curators.local_llm import load_state

    config = _ctx(ctx).config()
    if config.settings.llm_base_url:
        out.print(f"configured endpoint: {config.settings.llm_base_url} (model {config.settings.llm_model})")
    server = load_state(config.settings.data_root)
    if server is None:
        out.print("no embedded server running (LLM stages start one when no endpoint is configured)")
    else:
        out.print(f"embedded server: {server.model} at {server.base_url} (pid {server.pid})")


@llm_app.command("stop")
def llm_stop(ctx: typer.Context) -> None:
    """Stop the detached embedded server of this data root."""
    from curators.local_llm import clear_state, load_state

    root = _ctx(ctx).config().settings.data_root
    server = load_state(root)
    if server is None:
        out.print("no embedded server running")
    else:
        server.stop()
        out.print(f"stopped pid {server.pid}")
    clear_state(root)


prompts_app = typer.Typer(help="Prompt templates (prompts/<task>/<version>.j2).", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")


@prompts_app.command("list")
def prompts_list() -> None:
    """Every prompt version with its id, output model and description."""
    from curators.prompting import list_prompts

    table = Table("prompt id", "output", "params", "description")
    for p in list_prompts():
        table.add_row(p.prompt_id, p.output or "text", json.dumps(p.params), p.description)
    out.print(table)


@prompts_app.command("show")
def prompts_show(task: str = typer.Argument(..., help="task or task@version")) -> None:
    """Print a template file as it is."""
    from curators.prompting import load_prompt

    prompt = load_prompt(task)
    err.print(f"{prompt.prompt_id}  ({prompt.path})")
    out.print(prompt.text, markup=False, highlight=False)


@prompts_app.command("render")
def prompts_render(
    ctx: typer.Context,
    task: str = typer.Argument(..., help="task or task@version"),
    doc: str | None = typer.Option(None, "--doc", help="Document id from the warehouse."),
    text: str | None = typer.Option(None, "--text", help="Literal text instead of a document."),
    max_doc_tokens: int = typer.Option(1024, "--max-doc-tokens", help="Cut the document as labelling does."),
) -> None:
    """Show exactly the messages a model will receive for a document."""
    from curators.label import truncate
    from curators.prompting import load_prompt
    from warehouse.catalog import query as run_query

    prompt = load_prompt(task)
    language = None
    if doc:
        _, rows = run_query(
            _ctx(ctx).config().settings.data_root,
            "SELECT text, json_extract_string(meta, '$.language') FROM docs WHERE id = ?",
            [doc],
        )
        if not rows:
            raise CurateError(
                f"no document with id {doc}", hint='find ids with `curate sql "SELECT id, locator FROM docs"`'
            )
        text, language = rows[0]
    if text is None:
        raise CurateError("give --doc ID or --text TEXT")
    body, truncated = truncate(text, max_doc_tokens)
    for message in prompt.render(text=body, truncated=truncated, language=language):
        out.print(f"--- {message['role']} ---", style="bold")
        out.print(message["content"], markup=False, highlight=False)
    err.print(
        f"{prompt.prompt_id} · params {json.dumps(prompt.params)}" + (" · document truncated" if truncated else "")
    )


# ---------------------------------------------------------------------------------------------
# Read-only commands
# ---------------------------------------------------------------------------------------------


def _cell(value: Any, width: int | None) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = text.replace("\n", "⏎")
    if width and len(text) > width:
        text = text[: width - 1] + "…"
    return text


@app.command()
def sql(
    ctx: typer.Context,
    query: str = typer.Argument(..., help='SQL over the warehouse views, e.g. "SELECT count(*) FROM docs".'),
    as_csv: bool = typer.Option(False, "--csv", help="Print CSV (all rows)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON lines (all rows)."),
    max_rows: int = typer.Option(50, "--max-rows", help="Rows shown in a table (CSV/JSON print all)."),
    width: int = typer.Option(60, "--width", help="Characters shown per cell in a table (0: all)."),
) -> None:
    """Run read-only SQL (DuckDB) over the warehouse. Views: docs, rejects, runs, and <table>_all
    for every run's rows. Try `curate sql "SHOW TABLES"`."""
    from warehouse.catalog import query as run_query

    root = _ctx(ctx).config().settings.data_root
    columns, rows = run_query(root, query)
    if as_csv:
        writer = csv.writer(sys.stdout)
        writer.writerow(columns)
        writer.writerows(rows)
        return
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(dict(zip(columns, row, strict=True)), default=str, ensure_ascii=False) + "\n")
        return
    table = Table(*columns, show_lines=False)
    for row in rows[:max_rows]:
        table.add_row(*(_cell(v, width or None) for v in row))
    out.print(table)
    if len(rows) > max_rows:
        out.print(f"... {len(rows) - max_rows:,} more rows (use --max-rows, --csv or --json)")


def _print_status(root: Path) -> None:
    from warehouse.status import read_status

    status = read_status(root)
    out.print(f"[bold]warehouse[/] {status.root}" + ("  [yellow](a writer is running)[/]" if status.locked else ""))
    tables = Table("view", "rows", title=None)
    for name, n in status.tables.items():
        tables.add_row(name, f"{n:,}")
    out.print(tables)
    if status.sources:
        sources = Table("source", "docs", "chars", "rejects")
        for source, docs, chars, rejects in status.sources:
            sources.add_row(source, f"{docs:,}", f"{chars:,}", f"{rejects:,}")
        out.print(sources)
    if status.rejects_by_reason:
        rejects = Table("source", "reject reason", "count")
        for source, reason, n in status.rejects_by_reason:
            rejects.add_row(source, reason, f"{n:,}")
        out.print(rejects)
    if status.labels:
        labels = Table("labeller", "status", "score", "documents")
        for model, state, score, n in status.labels:
            labels.add_row(model, state, "" if score is None else str(score), f"{n:,}")
        out.print(labels)
    if status.runs:
        runs = Table("run", "flow", "status", "started", "counts")
        for r in status.runs:
            counts = ", ".join(f"{k} {v:,}" for k, v in r["counts"].items() if isinstance(v, int))
            runs.add_row(r["run_id"], r["flow"], r["status"], f"{r['started']:%Y-%m-%d %H:%M:%S}", counts)
        out.print(runs)


@app.command()
def status(ctx: typer.Context) -> None:
    """Tables and row counts, documents and rejects per source, rejects by reason, recent runs."""
    _print_status(_ctx(ctx).config().settings.data_root)


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective configuration (defaults < curate.yaml < environment < options), secrets masked."""
    config = _ctx(ctx).config()
    out.print(yaml.safe_dump(config.masked(), sort_keys=False), end="", markup=False, highlight=False)


@config_app.command("init")
def config_init(
    path: Path = typer.Argument(Path("curate.yaml"), help="Where to write the file."),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing file."),
) -> None:
    """Write a curate.yaml holding the defaults, to edit."""
    if path.exists() and not force:
        raise CurateError(f"{path} exists", hint="pass --force to overwrite it")
    path.write_text(config_template(), encoding="utf-8")
    out.print(f"wrote {path}")


# ---------------------------------------------------------------------------------------------
# Entry point: errors a user can act on print without a traceback
# ---------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    debug = "--debug" in argv or os.environ.get("CURATE_DEBUG") == "1"
    try:
        app(args=argv, prog_name="curate", standalone_mode=False)
        return 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        err.print("[yellow]interrupted[/]: finished shards are kept; rerun the same command to continue")
        return 130
    except CurateError as exc:
        if debug:
            raise
        err.print(f"[red]error:[/] {escape(exc.message)}", markup=True, highlight=False)
        if exc.hint:
            err.print(f"  hint: {exc.hint}", markup=False, highlight=False)
        return 1
    except Exception as exc:  # noqa: BLE001 - the last line of defence: a message, not a traceback
        if debug:
            raise
        err.print(f"[red]error:[/] {type(exc).__name__}: {escape(str(exc))}", markup=True, highlight=False)
        err.print("  rerun with --debug for the full traceback", markup=False)
        return 1


if __name__ == "__main__":
    sys.exit(main())
