"""`curate synth`: textbooks from diversity seeds, exercises from textbooks, instructions, responses, ratings
and preference pairs, the quality gates, the report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from curators.config import CurateConfig
from flows.cli.console import out
from flows.cli.options import (
    DaskAddress,
    Fresh,
    InstructMethod,
    RunnerOption,
    SeedMode,
    Task,
    Wait,
    context,
    for_flows,
    given,
)
from flows.runners import Runner

app = typer.Typer(
    help="Synthetic data: textbooks from diversity seeds, exercises from textbooks; instructions, responses, "
    "ratings and preference pairs for SFT and DPO (views `sft` and `dpo`); quality gates; report.",
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
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
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
    run_synth(config, c.verbose, "textbooks", fresh, wait, gates, runner, dask_address)


@app.command("exercises")
def synth_exercises(
    ctx: typer.Context,
    per_textbook: int | None = typer.Option(None, "--per-textbook", help="Exercises per textbook (default 3)."),
    gates: bool = Gates,
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
    fresh: Fresh = False,
    wait: Wait = None,
) -> None:
    """Write exercises with worked solutions from each textbook of the latest textbook run (programming
    topics: a function signature + docstring and its solution), linked to their textbook by parent_id."""
    c = context(ctx)
    overrides = {"synth": {"exercises": {"per_textbook": per_textbook}}} if per_textbook else None
    run_synth(c.config(overrides), c.verbose, "exercises", fresh, wait, gates, runner, dask_address)


@app.command("gates")
def synth_gates(ctx: typer.Context, wait: Wait = None) -> None:
    """(Re)run the quality gates over every generation (dedup, decontamination, score) and, when there are
    instructions, over them and their responses (near-duplicates, decontamination)."""
    from warehouse.listings import table_shards

    c = context(ctx)
    root = c.config().settings.data_root.resolve()
    if table_shards(root, "generations") or not table_shards(root, "instructions"):
        run_synth(c.config(), c.verbose, "gates", False, wait, True)
    if table_shards(root, "instructions"):
        run_instruct(c.config(), c.verbose, "gates", None, False, wait, True)


@app.command("instructions")
def synth_instructions(
    ctx: typer.Context,
    method: InstructMethod = typer.Option(
        InstructMethod.self_instruct,
        "--method",
        help="self-instruct (seed tasks + ROUGE-L pool), evol (rewrites, in depth and breadth), magpie (the model "
        "writes the user turn from its chat template), grounded (questions your curated documents answer).",
    ),
    n: int | None = typer.Option(
        None, "--n", help="Instructions asked for (magpie: user turns; grounded: documents; evol: parents). Default 64."
    ),
    rounds: int | None = typer.Option(None, "--rounds", help="Rounds of self-instruct or evol (default 2)."),
    seed: int | None = typer.Option(None, "--seed", help="Seed of the examples and operations drawn."),
    gates: bool = typer.Option(True, "--gates/--no-gates", help="Then find near-duplicates and benchmark items."),
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
    fresh: Fresh = False,
    wait: Wait = None,
) -> None:
    """Write new instructions into `instructions`, every one with its method, seed and a status: ok, or why it
    was dropped (similar, too_short, too_long, blacklisted, bad_start, leaked_template, no_gain, apology,
    truncated, invalid, failed). Resumable; answers cached and cost-accounted. See `instruction_pool`."""
    c = context(ctx)
    section: dict[str, Any] = given(n=n, seed=seed)
    if rounds is not None and method in (InstructMethod.self_instruct, InstructMethod.evol):
        section[method.value.replace("-", "_")] = {"rounds": rounds}
    config = c.config({"instruct": {"instructions": section}} if section else None)
    run_instruct(config, c.verbose, "instructions", method.value, fresh, wait, gates, runner, dask_address)


@app.command("responses")
def synth_responses(
    ctx: typer.Context,
    per_instruction: int | None = typer.Option(None, "--per-instruction", help="Responses per instruction (4)."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Longest response, in tokens (512)."),
    gates: bool = typer.Option(True, "--gates/--no-gates", help="Then look for benchmark items in them."),
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
    fresh: Fresh = False,
    wait: Wait = None,
) -> None:
    """Answer every usable instruction several times, each under one of UltraFeedback's principles
    (helpfulness, honesty, truthfulness, verbalized calibration) and a temperature, into `responses`."""
    c = context(ctx)
    section = given(per_instruction=per_instruction, max_tokens=max_tokens)
    config = c.config({"instruct": {"responses": section}} if section else None)
    run_instruct(config, c.verbose, "responses", None, fresh, wait, gates, runner, dask_address)


@app.command("judge")
def synth_judge(
    ctx: typer.Context,
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
    fresh: Fresh = False,
    wait: Wait = None,
) -> None:
    """Rate every ok response on instruction following, helpfulness, honesty and truthfulness (1-5, with a
    rationale; overall = their mean) into `ratings`. An answer that never validates is `invalid`, kept raw."""
    c = context(ctx)
    run_instruct(c.config(), c.verbose, "judge", None, fresh, wait, False, runner, dask_address)


@app.command("preferences")
def synth_preferences(
    ctx: typer.Context,
    no_confirm: bool = typer.Option(False, "--no-confirm", help="Skip the pairwise check in both orders."),
    runner: RunnerOption = Runner.local,
    dask_address: DaskAddress = None,
    fresh: Fresh = False,
    wait: Wait = None,
) -> None:
    """Pair the best- and worst-rated response of each instruction (ties dropped, margin kept), and confirm each
    pair by asking the judge A-vs-B and B-vs-A: a verdict that flips with the order leaves the pair out of
    `dpo`. See `preferences` (every pair with its status) and `dpo` (what DPOTrainer reads)."""
    c = context(ctx)
    config = c.config({"instruct": {"preferences": {"confirm": False}}} if no_confirm else None)
    run_instruct(config, c.verbose, "preferences", None, fresh, wait, False, runner, dask_address)


@app.command("report")
def synth_report(
    ctx: typer.Context,
    task: Task | None = typer.Option(None, "--task", help="Only textbook or exercise generations."),
    sample_size: int | None = typer.Option(None, "--sample-size", help="Texts per sample-based metric."),
) -> None:
    """Diversity of the generations: near-duplicate rate, most common openings, distinct-n, compression
    ratio, embedding neighbours, tokens and cost, overall and per axis value; contamination per benchmark.
    With instructions: per method and status, their diversity, responses, the judge's parse rate, and the
    preference pairs with their position-flip rate."""
    from curators.instruct.store import report as instruct_report
    from curators.synth.store import report
    from warehouse.listings import table_shards

    c = context(ctx)
    config = c.config({"synth": {"diversity": {"sample_size": sample_size}}} if sample_size else None)
    root = config.settings.data_root.resolve()
    if table_shards(root, "generations") or not table_shards(root, "instructions"):
        text = report(root, config.synth.diversity, task.value if task else None)
        out.print(text, markup=False, highlight=False)
    if table_shards(root, "instructions") and task is None:
        out.print(instruct_report(root, config.synth.diversity), markup=False, highlight=False)


def run_synth(
    config: CurateConfig,
    verbose: bool,
    what: str,
    fresh: bool,
    wait: float | None,
    gates: bool,
    runner: Runner = Runner.local,
    dask_address: str | None = None,
) -> None:
    config = for_flows(config, verbose, wait)
    from flows.cli.progress import StageBars
    from flows.runners import dask_cluster
    from flows.synth import synth_flow

    root = config.settings.data_root.resolve()
    bars = StageBars(root)
    if what != "gates":
        bars.llm(what, config.synth.seeds.n if what == "textbooks" else None)
    with bars.shown(), dask_cluster(runner, dask_address) as on:
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
            dask_address=on,
        )
    if done.generated is not None:
        print_generation_summary(what, done.generated)
    if done.gates is not None:
        print_gates(root, done.gates)


def run_instruct(
    config: CurateConfig,
    verbose: bool,
    step: str,
    method: str | None,
    fresh: bool,
    wait: float | None,
    gates: bool,
    runner: Runner = Runner.local,
    dask_address: str | None = None,
) -> None:
    config = for_flows(config, verbose, wait)
    from flows.cli.progress import StageBars
    from flows.instruct import instruct_flow
    from flows.runners import dask_cluster

    root = config.settings.data_root.resolve()
    bars = StageBars(root)
    if step != "gates":
        bars.llm(method or step, None)
    with bars.shown(), dask_cluster(runner, dask_address) as on:
        done = instruct_flow(
            str(root),
            step,
            config.instruct,
            config.llm,
            config.dedup,
            config.decontam,
            method or "self-instruct",
            gates,
            config.settings,
            fresh,
            wait,
            dask_address=on,
        )
    if done.generated is not None:
        print_generation_summary(method or step, done.generated, table=TABLE_OF_STEP[step])
    if done.gates is not None:
        print_instruct_gates(root, done.gates)


TABLE_OF_STEP = {
    "instructions": "instructions",
    "responses": "responses",
    "judge": "ratings",
    "preferences": "pair_votes",
}


def print_instruct_gates(root: Path, found: Any) -> None:
    from warehouse.catalog import query

    d = found.dedup
    flagged = " · ".join(f"{s.target} {s.flagged:,} of {s.checked:,}" for s in found.decontam)
    out.print(
        f"[bold]gates[/] in {found.seconds:.1f}s: near-duplicate instructions {d.dups:,} of {d.documents:,} · "
        f"contaminated {flagged}"
    )
    _, rows = query(root, "SELECT count(*), count(*) FILTER (WHERE usable) FROM instruction_pool")
    _, sft = query(root, "SELECT count(*) FROM sft")
    _, dpo = query(root, "SELECT count(*) FROM dpo")
    out.print(
        f"  instructions {rows[0][0]:,} · usable {rows[0][1]:,} · sft rows {sft[0][0]:,} · dpo pairs {dpo[0][0]:,}"
        ' — see `curate sql "SELECT * FROM instruction_pool"` and `curate synth report`'
    )


def print_generation_summary(what: str, summary: Any, table: str = "generations") -> None:
    statuses = " · ".join(f"{k} {v}" for k, v in sorted(summary.by_status.items())) or "nothing"
    out.print(
        f"[bold]{what}[/] run {summary.run_id} with {summary.model}: {statuses} · cache hits "
        f"{summary.cache_hits} · {summary.http_requests} requests · tokens in {summary.tokens_in:,} / out "
        f"{summary.tokens_out:,} · ${summary.cost_usd:.4f}"
    )
    if any(k != "ok" for k in summary.by_status):
        out.print(
            f'  every outcome keeps its reason: `curate sql "SELECT status, reason, count(*) FROM {table} '
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
