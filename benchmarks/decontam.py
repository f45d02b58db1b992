"""Decontamination of documents: throughput on the built-in `python-stdlib` corpus, and the per-benchmark
removal table of a run with planted benchmark items.

1. The corpus: `python-stdlib` (the standard library's .py files, one document each), ingested by the
   real flow into a temporary warehouse, plus a second source with --per-set items of every built-in
   benchmark planted in real stdlib docstrings (half verbatim, half lightly edited: words changed,
   inserted and deleted 14 words apart, case and punctuation changed).
2. Throughput, one core, the same texts and the same items for both:
     curators : `ContaminationIndex.find` (sorted uint64 n-gram hashes, numpy searchsorted)
     baseline : the plain approach of decontamination scripts: a Python set of 13-word tuples of every
                item, every 13-gram of a text looked up in it
   Both are checked to flag the same documents (the baseline is exact, so this also checks the hashing).
3. `curate decontam` (the flow: Prefect, the shard mapper, DuckDB) end to end on the warehouse, its
   MB/s including the index build, and the removal table from the `contamination` view: per benchmark,
   planted documents found / planted, and documents flagged in all (a clean stdlib document flagged
   would be a false positive, listed).

    .venv/bin/python benchmarks/decontam.py [--per-set 10] [--keep DIR]
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

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def light_edit(text: str, rng: random.Random) -> str:
    from tests.curators.decontam.test_index import light_edit as edit

    return edit(text, rng)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-set", type=int, default=10, help="Items planted per benchmark set.")
    parser.add_argument("--keep", type=Path, help="Keep the warehouse here.")
    args = parser.parse_args()

    from curators.config import IngestConfig, SourceSpec
    from curators.decontam.benchsets import BENCHMARKS, load_benchmarks
    from curators.decontam.config import DecontamConfig
    from curators.decontam.index import ContaminationIndex, normalize_words
    from curators.ingest.plan import stdlib_dir
    from flows.decontam import decontam_flow
    from flows.ingest import ingest_flow
    from tests.realtext import EXPLAINED_MODULES, docstrings
    from warehouse.catalog import query

    work = Path(tempfile.mkdtemp(prefix="decontam-bench-"))
    root = args.keep or work / "warehouse"
    rng = random.Random(0)
    items = load_benchmarks()
    prose = [docstrings(stdlib_dir() / f"{m}.py") for m in EXPLAINED_MODULES]
    prose = [p for p in prose if len(p.split()) >= 200]
    planted: dict[str, tuple[str, str]] = {}
    lines = []
    for name in BENCHMARKS:
        pool = [it for it in items if it.benchmark == name and len(normalize_words(it.text)) >= 13]
        for k, item in enumerate(rng.sample(pool, args.per_set)):
            words = rng.choice(prose).split()
            half = len(words) // 2
            text = item.text if k % 2 == 0 else light_edit(item.text, rng)
            doc = " ".join(words[:half]) + "\n\n" + text + "\n\n" + " ".join(words[half:])
            key = f"{name}-{k}"
            planted[key] = (name, item.item_id)
            lines.append(json.dumps({"name": key, "text": doc}))
    (work / "planted.jsonl").write_text("\n".join(lines) + "\n")

    sources = [
        SourceSpec(path="python-stdlib", name="stdlib"),
        SourceSpec(path=str(work / "planted.jsonl"), name="planted", id_field="name"),
    ]
    ingest_flow(str(root), IngestConfig(sources=sources))
    _, rows = query(root, "SELECT id, source, locator, text FROM docs ORDER BY id")
    texts = [r[3] for r in rows]
    megabytes = sum(len(t.encode()) for t in texts) / 1e6
    print(f"corpus: {len(rows):,} documents, {megabytes:.1f} MB ({sum(r[1] == 'planted' for r in rows)} planted)")

    # --- 2. throughput, one core -------------------------------------------------------------------
    config = DecontamConfig()
    process = psutil.Process()
    rss = process.memory_info().rss
    started = time.perf_counter()
    index = ContaminationIndex.build(items, config)
    build_s = time.perf_counter() - started
    ours_mb = (process.memory_info().rss - rss) / 1e6
    started = time.perf_counter()
    ours = {rows[k][0] for k, text in enumerate(texts) if index.find(text)}
    ours_s = time.perf_counter() - started

    rss = process.memory_info().rss
    started = time.perf_counter()
    n = config.ngram
    grams: set[tuple[str, ...]] = set()
    for item in items:
        words = normalize_words(item.text)
        if len(words) >= n:  # the baseline indexes full 13-grams only (no short items, no boilerplate rule)
            grams.update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    base_build_s = time.perf_counter() - started
    base_mb = (process.memory_info().rss - rss) / 1e6
    started = time.perf_counter()
    base = set()
    for k, text in enumerate(texts):
        words = normalize_words(text)
        if any(tuple(words[i : i + n]) in grams for i in range(len(words) - n + 1)):
            base.add(rows[k][0])
    base_s = time.perf_counter() - started
    print(f"\nthroughput on one core, {megabytes:.1f} MB, {len(items):,} item texts:")
    print(f"  {'':10} {'index build':>12} {'index RSS':>10} {'scan MB/s':>10} {'flagged':>8}")
    print(f"  {'curators':10} {build_s:>11.1f}s {ours_mb:>7.0f} MB {megabytes / ours_s:>10.1f} {len(ours):>8}")
    print(f"  {'baseline':10} {base_build_s:>11.1f}s {base_mb:>7.0f} MB {megabytes / base_s:>10.1f} {len(base):>8}")
    print(f"  ratio curators / baseline: scan MB/s {base_s / ours_s:.2f}x, index memory {ours_mb / base_mb:.2f}x")
    print(
        f"  flagged by the baseline only: {len(base - ours)} (runs of numbers, which curators does not index), "
        f"by curators only: {len(ours - base)} (items under 13 words, which the baseline does not index)"
    )

    # --- 3. the flow, and the removal table --------------------------------------------------------
    started = time.perf_counter()
    summary = decontam_flow(str(root), config, target="docs")
    flow_s = time.perf_counter() - started
    print(
        f"\n`curate decontam` flow: {summary.checked:,} documents, {summary.flagged} flagged, {flow_s:.1f}s "
        f"({megabytes / flow_s:.1f} MB/s including the index build and Prefect)"
    )
    _, found = query(
        root,
        "SELECT d.source, d.locator, c.benchmark, c.item_id FROM contamination c JOIN docs d USING (id) "
        "WHERE c.target = 'docs'",
    )
    hits = {(source, locator, b, i) for source, locator, b, i in found}
    print(f"\n{'benchmark':15} {'items':>7} {'planted':>8} {'found':>6} {'docs flagged':>13} {'items matched':>14}")
    for row in summary.removals:
        name = row["benchmark"]
        mine = [key for key, (b, _) in planted.items() if b == name]
        got = sum(("planted", key, *planted[key]) in hits for key in mine)
        print(
            f"{name:15} {row['benchmark_items']:>7,} {len(mine):>8} {got:>6} {row['flagged']:>13} "
            f"{row['items_matched']:>14}"
        )
    clean_flagged = sorted({(loc, b, i) for source, loc, b, i in hits if source != "planted"})
    total_found = sum(("planted", key, *planted[key]) in hits for key in planted)
    print(f"{'all':15} {'':>7} {len(planted):>8} {total_found:>6}")
    print(f"stdlib documents flagged: {len(clean_flagged)}" + "".join(f"\n  {c}" for c in clean_flagged[:20]))
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
