"""`curate synth`: textbooks from diversity seeds, exercises from textbooks, the quality gates, the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from curators.config import CurateConfig
from flows.cli.console import out
from flows.cli.options import Fresh, SeedMode, Task, Wait, context, for_flows, given

app = typer.Typer(
    help="Synthetic data: textbooks from diversity seeds, exercises from textbooks, quality gates, report.",
    no_args_is_help=True,
)


Gates = typer.Option(True, "--gates/--no-gates", help="Then dedup, decontaminate and score them.")


@app.command("textbooks")
def synth_textbooks(
    ctx: typer.Context,
    n: int | None = typer.Option(None, "--n", help="Seeds, one textbook each (default: synth.seeds.n, 100)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the seed sampler (same seed: same seeds)."),
    mode: SeedMode | None = typer.Option(
        None, "--mode", help="taxonomy (topic x audience x style x persona x words) or web (top curated documents)."
    ),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Longest generation, in tokens."),
    gates: bool = Gates,
    fresh: Fresh = False,
    wait: Wait = None,
) -> None:
    """Generate textbooks from diversity seeds (resumable; answers cached and cost-accounted), then run the
    quality gates: near-duplicates (among generations and against curated documents), benchmark
    contamination, and the educational score of the trained filter. See them in the `synthetic` view."""
    c = context(ctx)
    section: dict[str, Any] = {}
    if seeds := given(n=n, seed=seed, mode=mode):
        section["seeds"] = seeds
    if max_tokens is not None:
        section["textbook"] = {"max_tokens": max_tokens}
    config = c.config({"synth": section} if section else None)
    run_synth(config, c.verbose, "textbooks", fresh, wait, gates)


@app.command("exercises")
def synth_exercises(
    ctx: typer.Context,
    per_textbook: int | None = typer.Option(None, "--per-textbook", help="Exercises per textbook (default 3)."),
    gates: bool = Gates,
    fresh: Fresh = False,
    wait: Wait = None,
) -> None:
    """Write exercises with worked solutions from each textbook of the latest textbook run (programming
    topics: a function signature + docstring and its solution), linked to their textbook by parent_id."""
    c = context(ctx)
    overrides = {"synth": {"exercises": {"per_textbook": per_textbook}}} if per_textbook else None
    run_synth(c.config(overrides), c.verbose, "exercises", fresh, wait, gates)


@app.command("gates")
def synth_gates(ctx: typer.Context, wait: Wait = None) -> None:
    """(Re)run the quality gates over every generation: dedup, decontamination, score."""
    c = context(ctx)
    run_synth(c.config(), c.verbose, "gates", False, wait, True)


@app.command("report")
def synth_report(
    ctx: typer.Context,
    task: Task | None = typer.Option(None, "--task", help="Only textbook or exercise generations."),
    sample_size: int | None = typer.Option(None, "--sample-size", help="Texts per sample-based metric."),
) -> None:
    """Diversity of the generations: near-duplicate rate, most common openings, distinct-n, compression
    ratio, embedding neighbours, tokens and cost, overall and per axis value; contamination per benchmark."""
    from curators.synth.store import report

    c = context(ctx)
    config = c.config({"synth": {"diversity": {"sample_size": sample_size}}} if sample_size else None)
    text = report(config.settings.data_root.resolve(), config.synth.diversity, task.value if task else None)
    out.print(text, markup=False, highlight=False)


def run_synth(config: CurateConfig, verbose: bool, what: str, fresh: bool, wait: float | None, gates: bool) -> None:
    config = for_flows(config, verbose, wait)
    from flows.cli.progress import StageBars
    from flows.synth import synth_flow

    root = config.settings.data_root.resolve()
    bars = StageBars(root)
    if what != "gates":
        bars.llm(what, config.synth.seeds.n if what == "textbooks" else None)
    with bars.shown():
        done = synth_flow(
            str(root),
            what,
            config.synth,
            config.llm,
            config.dedup,
            config.decontam,
            config.embed,
            gates,
            config.settings,
            fresh,
            wait,
        )
    if done.generated is not None:
        print_generation_summary(what, done.generated)
    if done.gates is not None:
        print_gates(root, done.gates)


def print_generation_summary(what: str, summary: Any) -> None:
    statuses = " · ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items())) or "nothing"
    out.print(
        f"[bold]{what}[/] run {summary.run_id} with {summary.model}: {statuses} · cache hits "
        f"{summary.cache_hits} · {summary.http_requests} requests · tokens in {summary.tokens_in:,} / out "
        f"{summary.tokens_out:,} · ${summary.cost_usd:.4f}"
    )
    if any(k != "ok" for k in summary.by_status):
        out.print(
            '  every outcome keeps its reason: `curate sql "SELECT status, reason, count(*) FROM generations '
            'GROUP BY ALL"`'
        )


def print_gates(root: Path, found: Any) -> None:
    from curators.synth.store import summary_json

    d = found.dedup
    out.print(
        f"[bold]gates[/] in {found.seconds:.1f}s: near-duplicates {d.dups:,} of {d.documents:,} "
        f"({', '.join(f'{m} {n}' for m, n in sorted(d.by_method.items())) or 'none'}) · "
        f"contaminated {found.decontam.flagged:,} of {found.decontam.checked:,} checked · scored {found.scored:,}"
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
