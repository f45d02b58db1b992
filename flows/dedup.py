"""Dedup flow: MinHash signatures per input shard (mapped tasks, resumable, reused by later runs), then the
cluster step: LSH band keys grouped per range of bands and candidate pairs verified per block (mapped tasks
too: on a Dask cluster they run on its workers, the data root on shared storage), clusters and `dups` here."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, task, unmapped
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel

from curators.dedup.config import DedupConfig, MinHashConfig
from curators.dedup.lsh import s_curve
from curators.dedup.store import BandJob, VerifyJob, band_pairs, cluster, signature_shard, verify_pairs
from curators.errors import CurateError
from flows import processes, progress
from flows.runners import Runner, shard_processes, task_runner, worker_processes
from warehouse.listings import FIRST_RUN, TextTable, text_shards
from warehouse.lock import writer_lock
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
    kept: int  # documents kept in the clusters
    candidates: int
    verified: int
    reused: int
    semantic_pairs: int
    curve: dict


def signing_processes(
    root: Path, run_id: str, shards: list[str], config: MinHashConfig, asked: int | None = None
) -> int:
    """Worker processes for the shards whose signatures run `run_id` has not written yet."""
    return shard_processes(root, run_id, "minhash", shards, config.sig_config, asked=asked)


@task(name="minhash-shard", cache_policy=NO_CACHE, retries=1)
def minhash_task(data_root: str, run_id: str, shard: str, config: MinHashConfig) -> tuple[int, bool]:
    mapped = processes.call(run_id, signature_shard, Path(data_root), run_id, shard, config)
    report = progress.get("minhash", data_root)
    if report is not None:
        report(1, mapped.rows)
    return mapped.rows, mapped.computed


@task(name="lsh-bands", cache_policy=NO_CACHE, retries=1)
def band_task(job: BandJob) -> str:
    return band_pairs(job)


@task(name="verify-block", cache_policy=NO_CACHE, retries=1)
def verify_task(job: VerifyJob) -> list[tuple[str, str, float]]:
    return processes.call(job.run_id, verify_pairs, job)  # (in the pool cluster_step opened, if any)


def cluster_step(
    data_root: str, run_id: str, target: str, against: list[str], config: DedupConfig, workers: int | None = None
) -> dict:
    """Find, verify and cluster the duplicates; the band ranges and verification blocks are mapped tasks of
    this flow's task runner (threads, or the Dask cluster), the rest runs here. Two verification blocks or more
    run in `workers` processes (default: one per core; 0: the task threads)."""
    report = progress.get("dedup", data_root)

    def map_bands(jobs: list[BandJob]) -> list[str]:
        return band_task.map(jobs).result()

    def map_verify(jobs: list[VerifyJob], total: int) -> list[list[tuple[str, str, float]]]:
        # Verification holds the GIL (shingling, set arithmetic): two blocks or more run in worker processes.
        with processes.open_pool(run_id, min(verifiers, len(jobs)) if len(jobs) > 1 else 0, processes.PRELOAD["dedup"]):
            futures, found, done = verify_task.map(jobs), [], 0
            for job, future in zip(jobs, futures, strict=True):
                found.append(future.result())
                done += job.end - job.start
                if report is not None:
                    report(done, total)
        return found

    verifiers = worker_processes(0, processes.cores(), workers, min_bytes=0)  # one per core; none on a Dask runner
    result, n_docs = cluster(
        Path(data_root), run_id, target, config, against=against, map_bands=map_bands, map_verify=map_verify,
        verify_blocks=max(1, verifiers),
    )  # fmt: skip
    return {
        "documents": n_docs,
        "dups": len(result.dups),
        "by_method": result.by_method,
        "clusters": result.clusters,
        "kept": result.kept,
        "candidates": result.candidates,
        "verified": result.verified,
        "reused": result.reused,
        "semantic_pairs": result.semantic_pairs,
    }


def input_shards(root: Path, target: TextTable, against: list[TextTable]) -> list[str]:
    """The shards signed for a dedup of `target` against `against`; a clear error when `target` has none."""
    if not text_shards(root, target):
        raise CurateError(
            f"nothing to deduplicate: no {target} yet",
            hint=FIRST_RUN[target],
        )
    return sorted({s for t in [target, *against] for s in text_shards(root, t)})


@flow(name="dedup", task_runner=task_runner(Runner.local))
def dedup_flow(
    data_root: str,
    config: DedupConfig,
    target: TextTable = "docs",
    against: list[TextTable] | None = None,
    wait: float | None = None,
    workers: int | None = None,
) -> DedupSummary:
    """Signatures for every shard of `target` (and of `against`, whose documents are never dropped),
    then duplicates of `target` into `dups`. `workers`: processes that sign the shards and verify the candidate
    pairs (default: one per core when there is enough to sign, and for two blocks of pairs or more; 0: the task
    threads)."""
    root = Path(data_root).resolve()
    against = [a for a in (against or []) if a != target]
    with writer_lock(root, wait=wait, command="curate dedup"):
        shards = input_shards(root, target, against)
        with open_run(root, "minhash", config.minhash, wait=wait) as mrun:
            signers = signing_processes(root, mrun.run_id, shards, config.minhash, workers)
            with processes.open_pool(mrun.run_id, signers, processes.PRELOAD["dedup"]):
                done = minhash_task.map(
                    unmapped(str(root)), unmapped(mrun.run_id), shards, unmapped(config.minhash)
                ).result()
            mrun.counts = {"shards": len(shards), "docs": sum(n for n, _ in done), "computed": sum(c for _, c in done)}
        run_config = DedupRunConfig(target=target, against=against, dedup=config)
        with open_run(root, "dedup", run_config, wait=wait) as drun:
            found = cluster_step(str(root), drun.run_id, target, against, config, workers)
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
