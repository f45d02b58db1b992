"""`curate label`, `curate train`, `curate score`: the educational-value filter."""

from __future__ import annotations

import time
from typing import Any

import typer
from rich.table import Table

from curators.config import CurateConfig, LabelConfig
from flows.cli.console import out
from flows.cli.options import (
    DaskAddress,
    ForestKind,
    Fresh,
    RunnerOption,
    Strategy,
    Wait,
    context,
    for_flows,
    given,
)
from flows.cli.uptodate import Rerun, stage_once
from flows.runners import Runner

commands = typer.Typer()


@commands.command()
def label(
    ctx: typer.Context,
    n: int | None = typer.Option(None, "--n", help="Documents to label (default: label.n in the config, 200)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the sample."),
    strategy: Strategy | None = typer.Option(
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
    fresh: Fresh = False,
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
    wait: Wait = None,
) -> None:
    """Label a sample of documents for educational value (0-5) with an LLM.

    Uses the configured endpoint (CURATE_LLM_BASE_URL + CURATE_LLM_MODEL), else starts the embedded
    llama.cpp server. Answers are cached in the warehouse: a rerun pays for nothing twice. With `--runner dask`
    each batch is a task on the cluster, the endpoint's limits split between the tasks that run at once.
    """
    c = context(ctx)
    overrides: dict[str, Any] = {
        "label": given(n=n, seed=seed, prompt=prompt, max_doc_tokens=max_doc_tokens, strategy=strategy, more=more)
    }
    if local_model:
        overrides["llm"] = {"local_model": local_model}
    config = c.config(overrides)
    run_label(config, config.label, c.verbose, fresh, wait, runner, dask_address)


def run_label(
    config: CurateConfig,
    label: LabelConfig,
    verbose: bool,
    fresh: bool,
    wait: float | None,
    runner: Runner = Runner.local,
    dask_address: str | None = None,
) -> Any:
    from flows.cli.progress import StageBars

    config = for_flows(config, verbose, wait)
    from flows.label import label_flow
    from flows.runners import task_runner

    if runner is Runner.dask:
        label_flow = label_flow.with_options(task_runner=task_runner(runner, dask_address))

    root = config.settings.data_root.resolve()
    bars = StageBars(root)
    bars.llm("label", label.more or label.n)
    with bars.shown():
        summary = label_flow(str(root), label, config.llm, config.embed, config.settings, fresh=fresh, wait=wait)
    print_label_summary(summary)
    return summary


def print_label_summary(summary: Any) -> None:
    out.print(
        f"[bold]label[/] run {summary.run_id} with {summary.model}: {summary.requested} sampled · ok {summary.ok} · "
        f"invalid {summary.invalid} · failed {summary.failed} · cache hits {summary.cache_hits} · "
        f"{summary.http_requests} requests · tokens in {summary.tokens_in:,} / out {summary.tokens_out:,} · "
        f"${summary.cost_usd:.4f}"
    )
    if summary.failed:
        out.print(
            "  failed items keep their reason: `curate sql \"SELECT id, error FROM labels WHERE status <> 'ok'\"`;"
            " rerun to retry them (answers already paid for are not asked again)"
        )


@commands.command()
def train(
    ctx: typer.Context,
    kind: ForestKind | None = typer.Option(None, "--kind", help="regressor (default) or classifier."),
    threshold: int | None = typer.Option(
        None, "--threshold", help="keep = the predicted score rounds to >= this (score >= this - 0.5; default 3)."
    ),
    prompt: str | None = typer.Option(None, "--prompt", help="Train on labels of this prompt id prefix only."),
    wait: Wait = None,
) -> None:
    """Train the educational-value filter: a random forest over sentence embeddings of the labelled
    documents. Prints held-out metrics beside a majority-class baseline."""
    c = context(ctx)
    config = for_flows(c.config({"filter": given(kind=kind, threshold=threshold, prompt=prompt)}), c.verbose, wait)
    from flows.train import train_flow

    root = config.settings.data_root.resolve()
    print_filter_card(train_flow(str(root), config.filter, config.embed, wait=wait))
    print_filter_history(root)


def print_filter_card(card: dict[str, Any]) -> None:
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


def print_filter_history(root: Any) -> None:
    """Label rounds: how the held-out F1 moves as labels are added."""
    from warehouse.catalog import query

    _, rows = query(root, "SELECT filter_id, kind, n_labels, f1, baseline_f1, created FROM filters ORDER BY created")
    if len(rows) > 1:
        history = Table("filter", "kind", "labels", "held-out F1", "baseline F1", "trained")
        for fid, kind_, n_labels, f1, base_f1, created in rows:
            history.add_row(fid, kind_, str(n_labels), f"{f1:.3f}", f"{base_f1:.3f}", f"{created:%Y-%m-%d %H:%M}")
        out.print(history)


@commands.command()
def score(
    ctx: typer.Context,
    filter_id: str | None = typer.Option(None, "--filter", help="Filter id (default: the newest)."),
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
    wait: Wait = None,
    rerun: Rerun = False,
) -> None:
    """Score every document with the filter, shard by shard (resumable): writes `embeddings` and `scores`;
    the view `curated` holds the documents kept."""
    c = context(ctx)
    config = c.config()
    root = config.settings.data_root.resolve()
    with stage_once(root, "score", [config.embed, filter_id], wait, rerun) as once:
        if once.summary is not None:
            print_score_summary(once.summary)
            return
        config = for_flows(config, c.verbose, wait)
        from flows.runners import task_runner
        from flows.score import score_flow

        started = time.monotonic()
        flow = score_flow.with_options(task_runner=task_runner(runner, dask_address))
        summary = flow(str(root), config.embed, filter_id=filter_id, wait=wait, prefetch=runner is Runner.local)
        once.finished(summary)
    print_score_summary(summary, time.monotonic() - started)


def print_score_summary(summary: Any, elapsed: float | None = None) -> None:
    took = "" if elapsed is None else f" in {elapsed:.1f}s"
    out.print(
        f"[bold]score[/] {summary.docs:,} documents in {summary.shards} shards with {summary.filter_id}: "
        f"kept {summary.kept:,} ({summary.kept / max(1, summary.docs):.1%}){took}"
        ' — see `curate sql "SELECT * FROM curated"`'
    )
