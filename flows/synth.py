"""Synth flows: textbooks (seeds -> generations), exercises (from a textbook run), and the quality
gates over every generation (near-duplicates with the dedup stage, decontamination, educational score).
"""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from curators.config import (
    DecontamConfig,
    DedupConfig,
    EmbedConfig,
    ExercisesConfig,
    LLMConfig,
    SeedConfig,
    Settings,
    SynthConfig,
    TextbookConfig,
    api_key_from_env,
)
from curators.endpoint import context_for, endpoint_for, expected_model
from curators.errors import CurateError
from curators.llm import Endpoint
from curators.score import embeddings_shards
from curators.synth.gates import decontam_shard, generations_shards
from curators.synth.textbooks import (
    GenerationSummary,
    exercises_pending,
    generate_exercises,
    generate_textbooks,
    plan_seeds,
    stored_seeds,
    textbooks_pending,
)
from flows import progress
from flows.dedup import DedupSummary, dedup_flow
from flows.score import ScoreRunConfig, embed_task, score_task
from warehouse.catalog import query
from warehouse.runs import open_run, read_runs


class TextbookRunConfig(BaseModel):
    seeds: SeedConfig
    textbook: TextbookConfig
    model: str


class ExerciseRunConfig(BaseModel):
    exercises: ExercisesConfig
    textbook_run_id: str
    model: str


class GatesSummary(BaseModel):
    dedup: DedupSummary | None
    decontam_checked: int
    decontam_flagged: int
    scored: int
    filter_id: str | None
    skipped: list[str]


def _endpoint(base_url: str, model: str, local: bool) -> Endpoint:
    # The API key is read here, from the environment, so it never becomes a Prefect parameter.
    key = None if local else api_key_from_env()
    return Endpoint(base_url=base_url, model=model, local=local, api_key=key or "not-needed")


@task(name="generate-textbooks", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def textbooks_task(
    data_root: str,
    run_id: str,
    seeds: SeedConfig,
    textbook: TextbookConfig,
    llm: LLMConfig,
    base_url: str,
    model: str,
    local: bool,
) -> GenerationSummary:
    root = Path(data_root)
    planned = stored_seeds(root, run_id) or []
    return generate_textbooks(
        root,
        run_id,
        planned,
        textbook,
        seeds,
        llm,
        _endpoint(base_url, model, local),
        on_result=progress.get(data_root),
    )


@task(name="generate-exercises", cache_policy=NO_CACHE, retries=1, retry_delay_seconds=5)
def exercises_task(
    data_root: str,
    run_id: str,
    textbook_run_id: str,
    exercises: ExercisesConfig,
    llm: LLMConfig,
    base_url: str,
    model: str,
    local: bool,
) -> GenerationSummary:
    root = Path(data_root)
    planned = stored_seeds(root, textbook_run_id) or []
    return generate_exercises(
        root,
        run_id,
        textbook_run_id,
        planned,
        exercises,
        llm,
        _endpoint(base_url, model, local),
        progress.get(data_root),
    )


@task(name="decontam-shard", cache_policy=NO_CACHE, retries=1)
def decontam_task(data_root: str, run_id: str, shard: str, config: DecontamConfig) -> tuple[int, int]:
    return decontam_shard(Path(data_root), run_id, shard, config)


def _settings(root: str, base_url: str | None, model: str | None) -> Settings:
    return Settings(data_root=Path(root), llm_base_url=base_url, llm_model=model, llm_api_key=api_key_from_env())


@flow(name="synth-textbooks")
def textbooks_flow(
    data_root: str,
    config: SynthConfig,
    llm: LLMConfig,
    base_url: str | None = None,
    model: str | None = None,
    fresh: bool = False,
    wait: float | None = None,
) -> GenerationSummary:
    """Draw `config.seeds.n` seeds and write one textbook per seed into `generations`."""
    root = str(Path(data_root).resolve())
    settings = _settings(root, base_url, model)
    model_name = expected_model(settings, llm)
    run_config = TextbookRunConfig(seeds=config.seeds, textbook=config.textbook, model=model_name)
    with open_run(Path(root), "synth-textbooks", run_config, fresh=fresh, wait=wait) as run:
        seeds = plan_seeds(Path(root), run.run_id, config.seeds)
        if not textbooks_pending(Path(root), run.run_id, seeds, config.textbook, model_name):
            summary = generate_textbooks(
                Path(root), run.run_id, seeds, config.textbook, config.seeds, llm, _idle(model_name)
            )
        else:
            max_tokens = config.textbook.max_tokens or 1024
            with endpoint_for(settings, llm, n_ctx=context_for(1200, max_tokens)) as endpoint:
                summary = textbooks_task(
                    root,
                    run.run_id,
                    config.seeds,
                    config.textbook,
                    llm,
                    endpoint.base_url,
                    endpoint.model,
                    endpoint.local,
                )
        run.counts = {"seeds": len(seeds), **summary.by_status, "cache_hits": summary.cache_hits}
    return summary


def _idle(model: str) -> Endpoint:
    """An endpoint that is never called: every batch is done, the answers are read from shards."""
    return Endpoint(base_url="http://127.0.0.1:9/v1", model=model, local=True)


def latest_textbook_run(root: Path) -> str:
    runs = [r for r in read_runs(root) if r.flow == "synth-textbooks" and r.status == "finished"]
    if not runs:
        raise CurateError("no finished textbook run to write exercises from", hint="run `curate synth textbooks` first")
    return runs[-1].run_id


@flow(name="synth-exercises")
def exercises_flow(
    data_root: str,
    config: SynthConfig,
    llm: LLMConfig,
    textbook_run_id: str | None = None,
    base_url: str | None = None,
    model: str | None = None,
    fresh: bool = False,
    wait: float | None = None,
) -> GenerationSummary:
    """Exercises with worked solutions from each ok textbook of a textbook run (default: the latest)."""
    root = str(Path(data_root).resolve())
    settings = _settings(root, base_url, model)
    model_name = expected_model(settings, llm)
    source = textbook_run_id or latest_textbook_run(Path(root))
    run_config = ExerciseRunConfig(exercises=config.exercises, textbook_run_id=source, model=model_name)
    with open_run(Path(root), "synth-exercises", run_config, fresh=fresh, wait=wait) as run:
        seeds = stored_seeds(Path(root), source) or []
        if not exercises_pending(Path(root), run.run_id, source, seeds, config.exercises, model_name):
            summary = generate_exercises(
                Path(root), run.run_id, source, seeds, config.exercises, llm, _idle(model_name)
            )
        else:
            max_tokens = config.exercises.max_tokens or 1200
            n_ctx = context_for(config.exercises.max_textbook_chars // 3 + 300, max_tokens)
            with endpoint_for(settings, llm, n_ctx=n_ctx) as ep:
                summary = exercises_task(
                    root, run.run_id, source, config.exercises, llm, ep.base_url, ep.model, ep.local
                )
        run.counts = {**summary.by_status, "cache_hits": summary.cache_hits}
    return summary


def _newest_filter(root: Path) -> tuple[str, str] | None:
    try:
        _, rows = query(root, "SELECT filter_id, path FROM filters ORDER BY created DESC LIMIT 1")
    except CurateError:
        return None
    return (rows[0][0], rows[0][1]) if rows else None


@flow(name="synth-gates")
def gates_flow(
    data_root: str, config: SynthConfig, dedup: DedupConfig, embed: EmbedConfig, wait: float | None = None
) -> GatesSummary:
    """Near-duplicates (among generations, and of curated documents), contamination, and scores."""
    root = Path(data_root).resolve()
    shards = generations_shards(root)
    if not shards:
        raise CurateError("no generations yet", hint="run `curate synth textbooks` first")
    skipped: list[str] = []
    _, docs = query(root, "SELECT count(*) FROM docs")
    against = ["docs"] if config.dedup_against_docs and docs[0][0] else []
    dedup_summary = dedup_flow(str(root), dedup, target="generations", against=against, wait=wait)
    with open_run(root, "decontam", config.decontam, wait=wait) as run:
        counts = decontam_task.map(
            unmapped(str(root)), unmapped(run.run_id), shards, unmapped(config.decontam)
        ).result()
        run.counts = {"checked": sum(c for c, _ in counts), "flagged": sum(f for _, f in counts)}
    # Embeddings always (the diversity report's neighbours use them); scores when a filter exists.
    with open_run(root, "embed", embed, wait=wait) as erun:
        embed_task.map(unmapped(str(root)), unmapped(erun.run_id), shards, unmapped(embed)).result()
    scored, filter_id = 0, None
    newest = _newest_filter(root)
    if newest is None:
        skipped.append("score: no filter yet (`curate train`)")
    else:
        filter_id, filter_path = newest
        inputs = [s for s in embeddings_shards(root, erun.run_id) if _embeds_generations(s, shards)]
        with open_run(root, "score", ScoreRunConfig(filter_id=filter_id, embed=embed), wait=wait) as srun:
            scored = sum(
                score_task.map(
                    unmapped(str(root)), unmapped(srun.run_id), inputs, unmapped(filter_path), unmapped(filter_id)
                ).result()
            )
    return GatesSummary(
        dedup=dedup_summary,
        decontam_checked=sum(c for c, _ in counts),
        decontam_flagged=sum(f for _, f in counts),
        scored=scored,
        filter_id=filter_id,
        skipped=skipped,
    )


def _embeds_generations(embeddings_shard: str, generation_shards: list[str]) -> bool:
    from curators.score import unit_of

    name = Path(embeddings_shard).name
    return any(name.startswith(f"part-{unit_of(Path(g)):05d}-") for g in generation_shards)
