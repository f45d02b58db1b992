"""Near-duplicate detection end to end (text in, clusters out): ours against datatrove and datasketch.

Documents are real source files: the Python standard library's and this virtualenv's site-packages
`.py` files (vendored copies and versions of the same module are natural near-duplicates), taken a
top-level package at a time in a seeded order until --mb megabytes of text (UTF-8, files over 1 MB
left out, as ingest would reject them). Every variant is matched: word 5-grams, 14 bands x 8 rows
(datatrove's defaults), threshold 0.8 where a variant verifies. Each runs in its own process, one
core (DuckDB threads = 1), so CPU seconds and peak RSS are its own:

  datatrove      : datatrove's MinhashDedupSignature -> MinhashDedupBuckets -> MinhashDedupCluster
                   with a LocalPipelineExecutor (workers=1) reading the JSONL, in a separate virtualenv
                   (benchmarks/.venv-datatrove, created once). Its default normalisation (lower case,
                   digits, punctuation, diacritics), spaCy word tokens, 64-bit xxhash. No verification:
                   documents sharing a bucket are clustered.
  datasketch     : straightforward: per document word 5-gram shingles (our normalisation), MinHash.bulk
                   with xxh32, MinHashLSH(num_perm=112, params=(14, 8)) query + insert, exact Jaccard of
                   candidates (re-shingled), union-find.
  curators       : the library path: signature_table -> DuckDB -> deduplicate (exact + near, verified by
                   exact Jaccard), clusters.
  curators flow  : (--flow) `curate ingest` + `curate dedup` flows on the same JSONL in a fresh data root;
                   ingest and Prefect's start-up reported separately.

MB/s per core = MB of text / CPU seconds (user + sys) of the variant's processes. Cluster agreement
compares "same cluster" document pairs (pair counting over the clusters' contingency table) and the
sets of documents that are in any cluster.

    .venv/bin/python benchmarks/dedup_vs_datatrove.py [--mb 100] [--flow] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
DATATROVE_VENV = HERE / ".venv-datatrove"
DATATROVE_REQUIREMENTS = [
    "datatrove==0.10.1",
    "spacy==3.8.18",  # datatrove's English word tokenizer (spacy.blank("en"), no model download)
    "xxhash==3.8.2",  # its default hash function (datatrove[processing] pins xxhash<4)
    "regex==2026.11.15",
    "orjson==3.13.0",  # its JsonlReader
    "tokenizers==0.23.3",  # imported by datatrove.pipeline.dedup's __init__
]
MAX_DOC_BYTES = 1024 * 1024
CHILD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}


# ---------------------------------------------------------------------------------------------- corpus


def source_groups() -> list[list[tuple[str, Path]]]:
    """(shown path, file) of the .py files of each top-level package or module of the stdlib and of
    site-packages, one list per package."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    site = Path(sysconfig.get_paths()["purelib"])
    groups: list[list[tuple[str, Path]]] = []
    for base, prefix in ((stdlib, "stdlib"), (site, "site")):
        for entry in sorted(base.iterdir()):
            if entry.name in ("site-packages", "__pycache__") or entry.name.endswith((".dist-info", ".egg-info")):
                continue
            if entry.is_dir():
                files = sorted(p for p in entry.rglob("*.py") if p.is_file())
            elif entry.suffix == ".py":
                files = [entry]
            else:
                continue
            if files:
                groups.append([(f"{prefix}/{p.relative_to(base)}", p) for p in files])
    return groups


def build_corpus(path: Path, mb: float, seed: int) -> None:
    """Write a JSONL of {"id", "path", "text"} with at least `mb` MB of text."""
    rng = random.Random(seed)
    groups = source_groups()
    rng.shuffle(groups)
    budget = int(mb * 1e6)
    total = 0
    n = 0
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        for files in groups:
            for rel, file in files:
                if total >= budget:
                    return
                try:
                    raw = file.read_bytes()
                    text = raw.decode("utf-8")
                except (OSError, UnicodeDecodeError):
                    continue
                if len(raw) > MAX_DOC_BYTES or not text.strip():
                    continue
                fh.write(json.dumps({"id": f"d{n:07d}", "path": rel, "text": text}) + "\n")
                total += len(raw)
                n += 1


def corpus_file(folder: Path, mb: float, seed: int) -> Path:
    path = folder / f"corpus-{mb:g}mb-seed{seed}" / "docs.jsonl"
    if not path.exists():
        t = time.perf_counter()
        tmp = path.with_suffix(".tmp")
        build_corpus(tmp, mb, seed)
        tmp.rename(path)
        print(f"built {path} in {time.perf_counter() - t:.1f}s")
    return path


def read_corpus(path: Path) -> tuple[list[str], list[str]]:
    ids, texts = [], []
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            record = json.loads(line)
            ids.append(record["id"])
            texts.append(record["text"])
    return ids, texts


# ----------------------------------------------------------------------------------- the variants


def find_duplicates(
    ids: list[str], texts: list[str], config: Any, batch: int = 2048, threads: int = 1
) -> tuple[Any, list[Any]]:
    """Ours, in memory: the library's `find_duplicates` (signatures -> DuckDB -> verify -> clusters).
    Returns the DedupResult and every verified near pair at or above the threshold."""
    from curators.dedup.clusters import find_duplicates as library_find_duplicates

    verified: list[Any] = []

    def keep(pairs: list[Any]) -> None:
        verified.extend(p for p in pairs if p.is_dup)

    result = library_find_duplicates(ids, texts, config, sink=keep, batch=batch, threads=threads)
    return result, verified


def clusters_of_dups(dups: list[Any]) -> dict[str, str]:
    """doc id -> cluster id, for every member of a cluster (survivors included)."""
    out: dict[str, str] = {}
    for row in dups:
        out[row.id] = row.cluster_id
        out[row.dup_of] = row.cluster_id
    return out


def dedup_config(args: argparse.Namespace, derived: bool = False) -> Any:
    from curators.config import DedupConfig, MinHashConfig

    if derived:
        return DedupConfig(minhash=MinHashConfig(ngram=args.ngram, threshold=args.threshold))
    return DedupConfig(
        minhash=MinHashConfig(ngram=args.ngram, threshold=args.threshold, bands=args.bands, rows=args.rows)
    )


def run_ours(args: argparse.Namespace, derived: bool = False) -> dict:
    ids, texts = read_corpus(Path(args.corpus))
    config = dedup_config(args, derived=derived)
    result, verified = find_duplicates(ids, texts, config)
    exact = [(r.id, r.matched_with) for r in result.dups if r.method == "exact"]
    return {
        "docs": len(ids),
        "clusters": clusters_of_dups(result.dups),
        "removed": [r.id for r in result.dups],
        "dup_of": {r.id: r.dup_of for r in result.dups},
        "pairs": [sorted(pair) for pair in exact] + [sorted((p.a, p.b)) for p in verified],
        "detail": {
            "lsh": list(config.minhash.lsh),
            "candidates": result.candidates,
            "near_pairs": result.near_pairs,
            "exact_pairs": result.exact_pairs,
            "by_method": result.by_method,
        },
    }


def run_ours_derived(args: argparse.Namespace) -> dict:
    """Ours with the bands x rows derived from the threshold (MinHashConfig's default)."""
    return run_ours(args, derived=True)


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[Any, Any] = {}

    def find(self, x: Any) -> Any:
        parent = self.parent
        root = parent.setdefault(x, x)
        while root != parent[root]:
            root = parent[root]
        while x != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a: Any, b: Any) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def run_datasketch(args: argparse.Namespace) -> dict:
    import re

    import xxhash
    from datasketch import MinHash, MinHashLSH

    from curators.config import MinHashConfig
    from curators.dedup.minhash import normalize

    config = MinHashConfig(ngram=args.ngram, bands=args.bands, rows=args.rows)
    n = args.ngram
    word = re.compile(r"\w+")

    def shingles(text: str) -> set[bytes]:
        tokens = word.findall(normalize(text, config))
        if len(tokens) < n:
            return {" ".join(tokens).encode()} if tokens else set()
        return {" ".join(tokens[i : i + n]).encode() for i in range(len(tokens) - n + 1)}

    ids, texts = read_corpus(Path(args.corpus))
    lsh = MinHashLSH(num_perm=args.bands * args.rows, params=(args.bands, args.rows))
    uf = UnionFind()
    cached: dict[int, set[bytes]] = {}
    n_candidates = verified = 0
    batch = 1000
    for start in range(0, len(texts), batch):
        sets = [shingles(t) for t in texts[start : start + batch]]
        hashes = MinHash.bulk(sets, num_perm=args.bands * args.rows, seed=1, hashfunc=xxhash.xxh32_intdigest)
        for offset, (doc_set, m) in enumerate(zip(sets, hashes, strict=True)):
            if not doc_set:
                continue
            i = start + offset
            for j in lsh.query(m):
                n_candidates += 1
                if uf.find(i) == uf.find(j):
                    continue  # already in one cluster: nothing to verify
                other = cached.get(j)
                if other is None:
                    other = cached[j] = shingles(texts[j])
                verified += 1
                if len(doc_set & other) / len(doc_set | other) >= args.threshold:
                    uf.union(i, j)
            lsh.insert(i, m)
    groups: dict[int, list[int]] = defaultdict(list)
    for x in list(uf.parent):
        groups[uf.find(x)].append(x)
    clusters = {ids[x]: ids[root] for root, members in groups.items() if len(members) > 1 for x in members}
    return {
        "docs": len(ids),
        "clusters": clusters,
        "removed": [ids[x] for root, ms in groups.items() if len(ms) > 1 for x in ms if x != root],
        "detail": {"candidates": n_candidates, "verified": verified},
    }


def run_datatrove(args: argparse.Namespace) -> dict:
    """Runs inside benchmarks/.venv-datatrove."""
    import numpy as np
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashConfig,
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.utils.hashing import HashConfig
    from datatrove.utils.text import TextNormConfig

    corpus = Path(args.corpus)
    work = Path(args.work)
    config = MinhashConfig(
        n_grams=args.ngram,
        num_buckets=args.bands,
        hashes_per_bucket=args.rows,
        seed=1,
        norm_config=TextNormConfig(),  # lower case, digits -> 0, punctuation and diacritics removed
        hash_config=HashConfig(precision=64, hash_fc="xxhash"),
    )
    stage_seconds = {}
    t = time.perf_counter()
    LocalPipelineExecutor(
        [
            JsonlReader(str(corpus.parent), glob_pattern=corpus.name, text_key="text", id_key="id"),
            MinhashDedupSignature(output_folder=str(work / "signatures"), config=config),
        ],
        tasks=1,
        workers=1,
        logging_dir=str(work / "logs" / "signatures"),
    ).run()
    stage_seconds["signatures"] = time.perf_counter() - t
    t = time.perf_counter()
    LocalPipelineExecutor(
        [
            MinhashDedupBuckets(
                input_folder=str(work / "signatures"), output_folder=str(work / "buckets"), config=config
            )
        ],
        tasks=config.num_buckets,
        workers=1,
        logging_dir=str(work / "logs" / "buckets"),
    ).run()
    stage_seconds["buckets"] = time.perf_counter() - t
    t = time.perf_counter()
    LocalPipelineExecutor(
        [
            MinhashDedupCluster(
                input_folder=str(work / "buckets"),
                output_folder=str(work / "remove_ids"),
                config=config,
                save_cluster_id=True,
            )
        ],
        tasks=1,
        workers=1,
        logging_dir=str(work / "logs" / "clusters"),
    ).run()
    stage_seconds["clusters"] = time.perf_counter() - t
    # The outputs: doc indices (line numbers of the one input file) in .remove, (doc, cluster) in
    # .clusters, and the bucket matches (file, doc, file, doc) in the .dups files.
    ids = []
    with open(corpus, encoding="utf-8") as fh:
        for line in fh:
            ids.append(json.loads(line)["id"])
    remove_file = work / "remove_ids" / "000000.remove"
    removed = np.fromfile(remove_file, dtype="<u4") if remove_file.exists() else np.zeros(0, "<u4")
    cluster_file = work / "remove_ids" / "000000.clusters"
    cl = np.fromfile(cluster_file, dtype="<u4").reshape(-1, 2) if cluster_file.exists() else np.zeros((0, 2), "<u4")
    pairs = set()
    for dups in sorted((work / "buckets").glob("*.dups")):
        for _, d1, _, d2 in np.fromfile(dups, dtype="<u4").reshape(-1, 4).tolist():
            pairs.add((min(d1, d2), max(d1, d2)))
    return {
        "docs": len(ids),
        "clusters": {ids[d]: f"c{c}" for d, c in cl.tolist()},
        "removed": [ids[d] for d in removed.tolist()],
        "pairs": [[ids[a], ids[b]] for a, b in sorted(pairs)],
        "detail": {"stage_seconds": stage_seconds, "bucket_pairs": len(pairs)},
    }


def run_flow(args: argparse.Namespace) -> dict:
    """`curate ingest` + `curate dedup` as flows, in a fresh data root; each part timed."""
    started = time.perf_counter()
    work = Path(args.work)
    from flows.env import configure_environment

    configure_environment(work)
    from prefect import flow

    from curators.config import IngestConfig, SourceSpec
    from flows.dedup import dedup_flow
    from flows.ingest import ingest_flow

    @flow
    def warm_up() -> None:  # starts Prefect's ephemeral API, once per process
        return None

    warm_up()
    startup = time.perf_counter() - started
    t = time.perf_counter()
    ingest_flow(str(work), IngestConfig(sources=[SourceSpec(path=args.corpus, id_field="id")]))
    ingest_seconds = time.perf_counter() - t
    t = time.perf_counter()
    summary = dedup_flow(str(work), dedup_config(args))
    dedup_seconds = time.perf_counter() - t
    import duckdb

    from warehouse.shards import done_shards

    doc_files = [str(p) for p, _ in done_shards(work, "docs")]
    dup_files = [str(p) for p, _ in done_shards(work, "dups")]
    rows = []
    if dup_files:
        con = duckdb.connect()
        con.execute(f"CREATE TABLE docs AS SELECT id, locator FROM read_parquet({doc_files})")
        rows = con.execute(
            f"SELECT d.locator, c.locator, s.locator FROM read_parquet({dup_files}) x JOIN docs d ON d.id = x.id "
            "JOIN docs c ON c.id = x.cluster_id JOIN docs s ON s.id = x.dup_of"
        ).fetchall()
    clusters: dict[str, str] = {}
    for doc, cluster_id, survivor in rows:
        clusters[doc] = cluster_id
        clusters[survivor] = cluster_id
    return {
        "docs": summary.documents,
        "clusters": clusters,
        "removed": [r[0] for r in rows],
        "detail": {
            "prefect_startup_seconds": startup,
            "ingest_seconds": ingest_seconds,
            "dedup_seconds": dedup_seconds,
        },
    }


VARIANTS = {
    "datatrove": run_datatrove,
    "datasketch": run_datasketch,
    "curators": run_ours,
    "curators-derived": run_ours_derived,
    "flow": run_flow,
}
LABELS = {
    "datatrove": "datatrove (no verify)",
    "datasketch": "datasketch baseline",
    "curators": "curators library",
    "curators-derived": "curators (derived b x r)",
    "flow": "curators flow",
}


def child(args: argparse.Namespace) -> None:
    started = time.perf_counter()
    result = VARIANTS[args.child](args)
    seconds = time.perf_counter() - started
    result["seconds"] = seconds
    result["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    with open(args.out, "w", encoding="utf-8") as fh:
        json.dump(result, fh)


# ------------------------------------------------------------------------------------------ parent


def ensure_datatrove() -> Path:
    """benchmarks/.venv-datatrove with the pinned datatrove (created once; reused)."""
    python = DATATROVE_VENV / "bin" / "python"
    marker = DATATROVE_VENV / "installed.txt"
    wanted = "\n".join(DATATROVE_REQUIREMENTS)
    if python.exists() and marker.exists() and marker.read_text() == wanted:
        return python
    print(f"creating {DATATROVE_VENV} with {', '.join(DATATROVE_REQUIREMENTS)} ...", flush=True)
    base = Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not python.exists():
        subprocess.run([str(base), "-m", "venv", str(DATATROVE_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *DATATROVE_REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return python


def measure(variant: str, python: Path, args: argparse.Namespace, corpus: Path, work: Path) -> dict:
    """Run one variant in a child process; its CPU time and peak RSS (of the child and anything it
    waited for) come from wait4."""
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    out = work / "result.json"
    command = [
        str(python),
        __file__,
        "--child",
        variant,
        "--corpus",
        str(corpus),
        "--work",
        str(work),
        "--out",
        str(out),
        "--ngram",
        str(args.ngram),
        "--bands",
        str(args.bands),
        "--rows",
        str(args.rows),
        "--threshold",
        str(args.threshold),
    ]
    env = {**os.environ, **CHILD_ENV, "PREFECT_LOGGING_LEVEL": "ERROR", "PYTHONPATH": str(ROOT)}
    with open(work / "stdout.log", "w") as so, open(work / "stderr.log", "w") as se:
        proc = subprocess.Popen(command, stdout=so, stderr=se, cwd=ROOT, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{variant} failed:\n{(work / 'stderr.log').read_text()[-3000:]}")
    result = json.loads(out.read_text())
    result["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    result["peak_mib"] = max(result["peak_mib"], usage.ru_maxrss / 1024)
    return result


def cluster_sizes(clusters: dict[str, str]) -> Counter:
    return Counter(clusters.values())


def pairs_in(sizes: Any) -> int:
    return sum(s * (s - 1) // 2 for s in sizes)


def agreement(a: dict[str, str], b: dict[str, str]) -> dict:
    """Pair counting: document pairs in one cluster under A, under B, under both; and the sets of
    documents that are in a cluster at all."""
    both = Counter((a[x], b[x]) for x in a.keys() & b.keys())
    pairs_a = pairs_in(cluster_sizes(a).values())
    pairs_b = pairs_in(cluster_sizes(b).values())
    shared = pairs_in(both.values())
    docs_a, docs_b = set(a), set(b)
    return {
        "pairs_a": pairs_a,
        "pairs_b": pairs_b,
        "shared": shared,
        "b_in_a": shared / pairs_b if pairs_b else 1.0,  # share of B's same-cluster pairs that A has too
        "a_in_b": shared / pairs_a if pairs_a else 1.0,
        "docs_a": len(docs_a),
        "docs_b": len(docs_b),
        "docs_jaccard": len(docs_a & docs_b) / len(docs_a | docs_b) if docs_a | docs_b else 1.0,
        "only_a": len(docs_a - docs_b),
        "only_b": len(docs_b - docs_a),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mb", type=float, default=100.0, help="Megabytes of source text (default 100).")
    parser.add_argument("--seed", type=int, default=0, help="Order in which packages are taken.")
    parser.add_argument("--ngram", type=int, default=5)
    parser.add_argument("--bands", type=int, default=14)
    parser.add_argument("--rows", type=int, default=8)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--flow", action="store_true", help="Also run the ingest + dedup flows (Prefect).")
    parser.add_argument(
        "--variants", default="datatrove,datasketch,curators", help="Comma-separated subset to run (and flow)."
    )
    parser.add_argument("--keep", type=Path, help="Build the corpus in (and reuse) this folder.")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--corpus", help=argparse.SUPPRESS)
    parser.add_argument("--work", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return

    base = args.keep or Path(tempfile.mkdtemp(prefix="curate-dedup-bench-"))
    corpus = corpus_file(base, args.mb, args.seed)
    variants = [v for v in args.variants.split(",") if v]
    if args.flow and "flow" not in variants:
        variants.append("flow")
    pythons = {v: Path(sys.executable) for v in variants}
    if "datatrove" in variants:
        pythons["datatrove"] = ensure_datatrove()
    sizes = []
    with open(corpus, encoding="utf-8") as fh:
        for line in fh:
            sizes.append(len(json.loads(line)["text"].encode("utf-8")))
    n_docs, mb = len(sizes), sum(sizes) / 1e6
    print(
        f"input: {n_docs:,} documents, {mb:.1f} MB of Python source (stdlib + site-packages, seed {args.seed}); "
        f"word {args.ngram}-grams, {args.bands} bands x {args.rows} rows, threshold {args.threshold}; "
        f"cores: {os.cpu_count()} (each variant single-process, one core)"
    )
    results = {}
    for v in variants:
        print(f"running {v} ...", flush=True)
        results[v] = measure(v, pythons[v], args, corpus, base / f"work-{v}")

    print(
        f"\n{'variant':<24}{'docs':>8}{'MB':>7}{'wall s':>9}{'CPU s':>8}{'MB/s/core':>11}{'peak RSS MiB':>14}"
        f"{'dups':>8}{'clusters':>10}"
    )
    for v in variants:
        r = results[v]
        r["rate"] = mb / r["cpu_seconds"]
        print(
            f"{LABELS[v]:<24}{r['docs']:>8,}{mb:>7.1f}{r['seconds']:>9.1f}{r['cpu_seconds']:>8.1f}{r['rate']:>11.2f}"
            f"{r['peak_mib']:>14.0f}{len(r['removed']):>8,}{len(cluster_sizes(r['clusters'])):>10,}"
        )
    print("(dups = documents a variant would remove: cluster members other than the one kept)")

    print()
    if "curators" in results:
        ours = results["curators"]
        for other in ("datatrove", "datasketch"):
            if other in results:
                speed = ours["rate"] / results[other]["rate"]
                memory = ours["peak_mib"] / results[other]["peak_mib"]
                print(f"curators / {other}: {speed:.2f}x MB/s per core, {memory:.2f}x peak RSS")
        goal = ours["rate"] >= 10
        line = f"goal >= 10 MB/s per core end to end: {ours['rate']:.1f} ({'met' if goal else 'NOT met'})"
        if "datasketch" in results:
            ratio = ours["rate"] / results["datasketch"]["rate"]
            line += f"; >= 2x datasketch: {ratio:.2f}x ({'met' if ratio >= 2 else 'NOT met'})"
        print(line)
        d = ours["detail"]
        print(
            f"curators detail: {d['exact_pairs']:,} exact pairs, {d['candidates']:,} LSH candidate pairs, "
            f"{d['near_pairs']:,} verified near pairs, dups by method {d['by_method']}"
        )
    if "datasketch" in results:
        d = results["datasketch"]["detail"]
        print(f"datasketch detail: {d['candidates']:,} LSH candidates returned, {d['verified']:,} verified by Jaccard")
    if "datatrove" in results:
        d = results["datatrove"]["detail"]
        stages = ", ".join(f"{k} {s:.1f}s" for k, s in d["stage_seconds"].items())
        print(f"datatrove detail: stages {stages}; {d['bucket_pairs']:,} distinct bucket-match pairs")
    if "flow" in results:
        f = results["flow"]
        d = f["detail"]
        print(
            f"curators flow: Prefect start-up {d['prefect_startup_seconds']:.1f}s, ingest {d['ingest_seconds']:.1f}s, "
            f"dedup flow {d['dedup_seconds']:.1f}s ({mb / d['dedup_seconds']:.1f} MB/s wall, DuckDB on all cores; "
            f"ingest + dedup {mb / (d['ingest_seconds'] + d['dedup_seconds']):.1f} MB/s wall)"
        )

    if "curators" in results:
        print(
            "\ncluster agreement, A = curators library: 'pairs' = document pairs put in one cluster; "
            "'B in A' = share of B's pairs that A also has,\n'A in B' = share of A's pairs that B has; "
            "'docs' = documents in any cluster (Jaccard of the two sets, and how many only one side has)"
        )
        print(
            f"{'B':<24}{'pairs A':>10}{'pairs B':>10}{'shared':>10}{'B in A':>8}{'A in B':>8}"
            f"{'docs A':>8}{'docs B':>8}{'docs J':>8}{'only A':>8}{'only B':>8}"
        )
        for other in ("datatrove", "datasketch", "flow"):
            if other not in results:
                continue
            g = agreement(results["curators"]["clusters"], results[other]["clusters"])
            print(
                f"{LABELS[other]:<24}{g['pairs_a']:>10,}{g['pairs_b']:>10,}{g['shared']:>10,}{g['b_in_a']:>8.3f}"
                f"{g['a_in_b']:>8.3f}{g['docs_a']:>8,}{g['docs_b']:>8,}{g['docs_jaccard']:>8.3f}"
                f"{g['only_a']:>8,}{g['only_b']:>8,}"
            )
    if not args.keep:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
