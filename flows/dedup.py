"""Dedup flow: MinHash signatures per input shard (mapped tasks, resumable, reused by later runs),
then one task that finds, verifies and clusters duplicates and writes `dups`."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from curators.config import DedupConfig, MinHashConfig
from curators.dedup_stage import Target, cluster, signature_shard, target_shards
from curators.minhash import s_curve
from flows import progress
from warehouse.runs import open_run


class DedupRunConfig(BaseModel):
    target: str
    against: list[str]
    dedup: DedupConfig


class DedupSummary(BaseModel):
    minhash_run_id: str
    dedup_run_id: str
    target: str
    shards: int
    shards_computed: int  # signature shards computed now (the others were reused)
    documents: int
    dups: int
    by_method: dict[str, int]
    clusters: int
    candidates: int
    verified: int
    reused: int
    semantic_pairs: int
    curve: dict


@task(name="minhash-shard", cache_policy=NO_CACHE, retries=1)
def minhash_task(data_root: str, run_id: str, shard: str, config: MinHashConfig) -> tuple[int, bool]:
    rows, computed = signature_shard(Path(data_root), run_id, shard, config)
    report = progress.get(f"minhash:{data_root}")
    if report is not None:
        report(1, rows)
    return rows, computed


@task(name="dedup-clusters", cache_policy=NO_CACHE)
def cluster_task(data_root: str, run_id: str, target: str, against: list[str], config: DedupConfig) -> dict:
    result, n_docs = cluster(
        Path(data_root), run_id, target, config, against=against, progress=progress.get(f"dedup:{data_root}")
    )
    return {
        "documents": n_docs,
        "dups": len(result.dups),
        "by_method": result.by_method,
        "clusters": result.clusters,
        "candidates": result.candidates,
        "verified": result.verified,
        "reused": result.reused,
        "semantic_pairs": result.semantic_pairs,
    }


@flow(name="dedup")
def dedup_flow(
    data_root: str,
    config: DedupConfig,
    target: Target = "docs",
    against: list[Target] | None = None,
    wait: float | None = None,
) -> DedupSummary:
    """Signatures for every shard of `target` (and of `against`, whose documents are never dropped),
    then duplicates of `target` into `dups`."""
    root = Path(data_root).resolve()
    against = [a for a in (against or []) if a != target]
    shards = sorted({s for t in [target, *against] for s in target_shards(root, t)})
    with open_run(root, "minhash", config.minhash, wait=wait) as mrun:
        done = minhash_task.map(unmapped(str(root)), unmapped(mrun.run_id), shards, unmapped(config.minhash)).result()
        mrun.counts = {"shards": len(shards), "docs": sum(n for n, _ in done), "computed": sum(c for _, c in done)}
    run_config = DedupRunConfig(target=target, against=against, dedup=config)
    with open_run(root, "dedup", run_config, wait=wait) as drun:
        found = cluster_task(str(root), drun.run_id, target, against, config)
        drun.counts = {k: v for k, v in found.items() if isinstance(v, int)}
    return DedupSummary(
        minhash_run_id=mrun.run_id,
        dedup_run_id=drun.run_id,
        target=target,
        shards=len(shards),
        shards_computed=sum(c for _, c in done),
        curve=s_curve(*config.minhash.lsh),
        **found,
    )
