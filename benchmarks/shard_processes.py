"""Map stages on every core: `curate quality`, the signing step of `curate dedup` and `curate decontam` with their
shards in worker processes (one per core, the default once there is enough input) against the same flows in
Prefect's task threads (`workers=0`, how they ran before), in one run, on the same shards; and `curate dedup` on a
corpus full of near duplicates, whose candidate pairs are verified in blocks in worker processes (against threads).
And the benchmark index that decontam needs: built (every command paid this before) against read from its on-disk
cache.

The input: >= --mb MB of real code (the .py files of this environment's site-packages, as in cli_overhead.py),
ingested once into one shard per core; each variant runs on a fresh copy of that warehouse. The near-duplicate
corpus: ~--near-mb MB of 2.5 KB extracts of the Python standard library's sources, about half of them copies of
another with a few words changed. The flows run in this process against one Prefect API (started by a warm-up
flow first, so no variant pays for it).

    .venv/bin/python benchmarks/shard_processes.py [--mb 50] [--near-mb 30]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def near_duplicates(path: Path, mb: int) -> None:
    """~`mb` MB of JSON Lines: extracts of the standard library's sources, each followed by 0-4 copies with 1-6
    words replaced (the same bytes every run)."""
    from ingest import real_texts

    rng = random.Random(1)
    texts = [t for t in real_texts() if len(t) > 3000]
    written = 0
    with open(path, "w", encoding="utf-8") as out:
        while written < mb * 1_000_000:
            text = rng.choice(texts)
            start = rng.randrange(0, len(text) - 2500)
            words = text[start : start + 2500].split(" ")
            copies = [" ".join(words)]
            for _ in range(rng.choice([0, 0, 1, 2, 4])):
                changed = list(words)
                for _ in range(rng.randint(1, 6)):
                    changed[rng.randrange(len(changed))] = rng.choice(["alpha", "beta", "gamma", "delta"])
                copies.append(" ".join(changed))
            for copy in copies:
                line = json.dumps({"text": copy}) + "\n"
                out.write(line)
                written += len(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=int, default=50, help="Size of the code corpus.")
    parser.add_argument("--near-mb", type=int, default=30, help="Size of the near-duplicate corpus.")
    args = parser.parse_args()
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from cli_overhead import code_corpus
    from prefect import flow

    from curators.config import IngestConfig, SourceSpec
    from curators.decontam.config import DecontamConfig
    from curators.decontam.index import build_index
    from curators.decontam.store import loaded_index
    from curators.decontam.stored_index import CACHE_ENV, stored_index
    from curators.dedup.config import DedupConfig
    from curators.heuristics.config import QualityConfig, policies_for
    from curators.ingest.plan import plan_units
    from curators.ingest.store import ingest_unit
    from flows.decontam import decontam_flow
    from flows.dedup import dedup_flow
    from flows.env import tune_flow_runs
    from flows.processes import cores
    from flows.quality import quality_flow
    from warehouse.runs import open_run

    @flow(name="warm-up")
    def warm_up() -> int:
        return 1

    tune_flow_runs()  # as the stage commands do
    warm_up()  # the Prefect API starts here, not in a timed variant
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        os.environ[CACHE_ENV] = str(tmp_path / "index-cache")
        decontam = DecontamConfig()
        started = time.monotonic()
        build_index(decontam)
        index_built = time.monotonic() - started
        stored_index(decontam)  # stores it
        started = time.monotonic()
        stored_index(decontam)
        index_read = time.monotonic() - started
        corpus = tmp_path / "code.jsonl"
        size = code_corpus(corpus, args.mb)
        base = tmp_path / "base"
        config = IngestConfig(sources=[SourceSpec(path=str(corpus), name="code", format="jsonl")])
        with open_run(base, "ingest", config) as run:
            units = plan_units(config, cores=cores()).units
            for unit in units:
                ingest_unit(unit, base, run.run_id, config)
        near = tmp_path / "near.jsonl"
        near_duplicates(near, args.near_mb)
        near_base = tmp_path / "near-base"
        near_config = IngestConfig(sources=[SourceSpec(path=str(near), name="near", format="jsonl")])
        with open_run(near_base, "ingest", near_config) as run:
            for unit in plan_units(near_config, cores=cores()).units:
                ingest_unit(unit, near_base, run.run_id, near_config)
        policies = policies_for(config)
        found: dict[str, tuple[int, int]] = {}

        def dedup_near(root: Path, workers: int | None) -> None:
            summary = dedup_flow(str(root), DedupConfig(), workers=workers)
            found["threads" if workers == 0 else "processes"] = (summary.candidates, summary.dups)

        stages = {
            "quality": lambda root, workers: quality_flow(str(root), QualityConfig(), policies, workers=workers),
            "dedup": lambda root, workers: dedup_flow(str(root), DedupConfig(), workers=workers),
            "decontam": lambda root, workers: decontam_flow(str(root), decontam, workers=workers),
            "dedup-near": dedup_near,
        }
        seconds: dict[tuple[str, str], float] = {}
        for stage, run_stage in stages.items():
            for variant, workers in (("threads", 0), ("processes", None)):
                root = tmp_path / f"{stage}-{variant}"
                shutil.copytree(near_base if stage == "dedup-near" else base, root)
                loaded_index.cache_clear()  # each variant reads the stored index once (its workers too)
                started = time.monotonic()
                run_stage(root, workers)
                seconds[stage, variant] = time.monotonic() - started
                shutil.rmtree(root)

    mb = size / 1e6
    load = os.getloadavg()[0]
    print(f"{mb:.0f} MB of real code in {len(units)} docs shards; {cores()} cores; load average {load:.2f}")
    print(f"{'flow':<32}{'threads s':>10}{'processes s':>13}{'MB/s threads':>14}{'MB/s processes':>16}{'ratio':>8}")
    for stage in stages:
        threads, procs = seconds[stage, "threads"], seconds[stage, "processes"]
        label = {
            "quality": "quality (rules + language ID)",
            "dedup": "dedup (signing + cluster step)",
            "decontam": "decontam (stored index)",
            "dedup-near": f"dedup, {args.near_mb} MB near-dups",
        }[stage]
        size_mb = args.near_mb if stage == "dedup-near" else mb
        rates = f"{size_mb / threads:>14.1f}{size_mb / procs:>16.1f}"
        print(f"{label:<32}{threads:>10.1f}{procs:>13.1f}{rates}{threads / procs:>7.2f}x")
    (candidates, dups), same = found["processes"], found["processes"] == found["threads"]
    agree = "the same" if same else "NOT the same"
    print(f"  near-dups: {candidates:,} candidate pairs verified, {dups:,} dups ({agree} in threads and in processes)")
    print(
        f"decontam's benchmark index: built {index_built:.1f} s, read from its cache {index_read:.2f} s "
        f"({index_built / index_read:.0f}x)"
    )


if __name__ == "__main__":
    main()
