"""Memory and wall time of dedup at scale: MinHash signatures + LSH grouping + verification for --docs
generated documents (default 1,000,000), in one process, with peak RSS printed (goal: < 4 GiB).

Documents are 60-120 words drawn with Zipf frequencies (1 / (rank + 2.7)) from the words of the standard
library's docstrings (real English words, about 9,500 of them, ranked by how often they occur there).
About 2% are planted near-copies of an earlier document of the same batch (one word deleted or replaced:
Jaccard 0.83-0.95) and 0.5% exact copies after normalisation (upper case), so LSH and verification have
real work.

Phases, as the dedup stage runs them (curators/dedup_stage.py), without Prefect:

  generate    : the texts, a batch at a time, written to Parquet `docs` shards (id, text); never all in memory
  signatures  : `curators.minhash.signature_table` per batch, written to Parquet `minhash` shards
  load        : the signature rows (id, exact_hash, n_shingles, n_chars, bands) into a DuckDB temp table
  lsh         : `curators.dedup.candidate_pairs`: band keys grouped in DuckDB (memory_limit, temp_directory)
  dedup       : `curators.dedup.deduplicate`: exact pairs, the LSH grouping again, Jaccard verification
                of every candidate (texts read back from the shards), union-find clusters, survivors

    .venv/bin/python benchmarks/dedup_memory.py [--docs 1000000] [--batch 10000] [--memory-limit 2GB]
"""

from __future__ import annotations

import argparse
import ast
import re
import resource
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402

from curators.config import DedupConfig  # noqa: E402
from curators.dedup.clusters import candidate_pairs, deduplicate  # noqa: E402
from curators.dedup.minhash import MinHasher, signature_table  # noqa: E402
from curators.ingest.plan import stdlib_dir  # noqa: E402

NEAR_SHARE = 0.02
EXACT_SHARE = 0.005
VOCABULARY = 30_000


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def vocabulary() -> tuple[np.ndarray, np.ndarray]:
    """The most common words of the standard library's docstrings and their Zipf sampling weights."""
    counts: Counter[str] = Counter()
    for path in sorted(stdlib_dir().rglob("*.py")):
        if {"site-packages", "test", "tests", "idle_test"} & set(path.relative_to(stdlib_dir()).parts):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                doc = ast.get_docstring(node)
                if doc:
                    counts.update(re.findall(r"[a-z]{2,14}", doc.lower()))
    words = [w for w, _ in counts.most_common(VOCABULARY)]
    weights = 1.0 / (np.arange(len(words)) + 2.7)
    return np.array(words, dtype=object), weights / weights.sum()


class Generator:
    """Batches of (ids, texts) with planted near and exact copies, reproducible from a seed."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        self.words, self.weights = vocabulary()
        self.planted: list[tuple[str, str]] = []  # (original, copy)

    def batch(self, start: int, n: int) -> tuple[list[str], list[str]]:
        rng = self.rng
        lengths = rng.integers(60, 121, size=n)
        drawn = self.words[rng.choice(self.words.size, size=int(lengths.sum()), p=self.weights)]
        ends = np.cumsum(lengths)
        texts = [" ".join(drawn[e - k : e]) for e, k in zip(ends, lengths, strict=True)]
        ids = [f"d{start + i:08d}" for i in range(n)]
        kinds = rng.random(n)
        original = np.zeros(n, dtype=bool)
        for j in range(1, n):
            if kinds[j] >= NEAR_SHARE + EXACT_SHARE:
                original[j] = True
                continue
            candidates = np.flatnonzero(original[:j])
            if candidates.size == 0:
                continue
            i = int(rng.choice(candidates))
            if kinds[j] < NEAR_SHARE:
                words = texts[i].split(" ")
                at = int(rng.integers(len(words)))
                if rng.random() < 0.5:
                    del words[at]
                else:
                    words[at] = str(self.words[int(rng.integers(self.words.size))])
                texts[j] = " ".join(words)
            else:
                texts[j] = texts[i].upper()
            self.planted.append((ids[i], ids[j]))
        return ids, texts


def texts_reader(docs_dir: Path, batch: int):
    """`texts(ids)` for verification: each id's text read back from its batch's docs shard."""

    def texts(ids: list[str]) -> dict[str, str]:
        by_shard: dict[int, list[str]] = {}
        for i in ids:
            by_shard.setdefault(int(i[1:]) // batch, []).append(i)
        out: dict[str, str] = {}
        for shard, wanted in by_shard.items():
            table = pq.read_table(docs_dir / f"part-{shard:05d}.parquet", filters=[("id", "in", wanted)])
            out.update(zip(table.column("id").to_pylist(), table.column("text").to_pylist(), strict=True))
        return out

    return texts


def report(phase: str, seconds: float, extra: str = "") -> None:
    print(
        f"{phase:<11} {seconds:8.1f} s   peak RSS {peak_rss_mb():8.0f} MB   now {current_rss_mb():7.0f} MB   {extra}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--memory-limit", default=DedupConfig().memory_limit, help="DuckDB memory_limit")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, default=None, help="Write the shards here and keep them")
    args = parser.parse_args()

    base = args.keep or Path(tempfile.mkdtemp(prefix="curate-dedup-bench-"))
    docs_dir, sig_dir, spill = base / "docs", base / "minhash", base / "duckdb-tmp"
    for folder in (docs_dir, sig_dir, spill):
        folder.mkdir(parents=True, exist_ok=True)
    config = DedupConfig(memory_limit=args.memory_limit)
    hasher = MinHasher(config.minhash)
    started = time.perf_counter()
    gen = Generator(args.seed)
    print(
        f"documents {args.docs:,} in batches of {args.batch:,}; vocabulary {gen.words.size:,} words; "
        f"MinHash {hasher.bands} bands x {hasher.rows} rows, {config.minhash.ngram}-word shingles, "
        f"threshold {config.minhash.threshold}",
        flush=True,
    )

    t_gen = t_sig = 0.0
    chars = 0
    for start in range(0, args.docs, args.batch):
        n = min(args.batch, args.docs - start)
        t = time.perf_counter()
        ids, texts = gen.batch(start, n)
        pq.write_table(pa.table({"id": ids, "text": texts}), docs_dir / f"part-{start // args.batch:05d}.parquet")
        t_gen += time.perf_counter() - t
        chars += sum(map(len, texts))
        t = time.perf_counter()
        table = signature_table(ids, texts, hasher, "bench")
        pq.write_table(table, sig_dir / f"part-{start // args.batch:05d}.parquet")
        t_sig += time.perf_counter() - t
        del ids, texts, table
    report("generate", t_gen, f"{chars / 1e6:,.0f} MB of text, planted {len(gen.planted):,} copies")
    report("signatures", t_sig, f"{args.docs / t_sig:,.0f} docs/s, {chars / 1e6 / t_sig:.1f} MB/s")

    con = duckdb.connect(config={"temp_directory": str(spill), "memory_limit": args.memory_limit})
    t = time.perf_counter()
    con.execute(
        f"""
        CREATE TEMP TABLE sig AS
        SELECT id, exact_hash, n_shingles, n_chars, bands, false AS protected
        FROM read_parquet('{sig_dir}/*.parquet')
        """
    )
    con.execute(
        "CREATE TEMP TABLE priority AS SELECT id, NULL::FLOAT AS score, n_chars, id AS order_key, protected FROM sig"
    )
    report("load", time.perf_counter() - t, f"{con.execute('SELECT count(*) FROM sig').fetchone()[0]:,} rows")

    t = time.perf_counter()
    con.execute(f"SET memory_limit = '{config.memory_limit}'")
    candidate_pairs(con, "sig", config)
    (n_candidates,) = con.execute("SELECT count(*) FROM candidates").fetchone()
    (n_buckets, biggest) = con.execute("SELECT count(*), max(size) FROM buckets").fetchone()
    report("lsh", time.perf_counter() - t, f"{n_buckets:,} shared buckets (largest {biggest}), {n_candidates:,} pairs")

    t = time.perf_counter()
    result = deduplicate(con, "sig", "priority", config, texts=texts_reader(docs_dir, args.batch))
    report(
        "dedup",
        time.perf_counter() - t,
        f"exact pairs {result.exact_pairs:,}, candidates {result.candidates:,}, verified {result.verified:,}, "
        f"near pairs {result.near_pairs:,}; grouping included again",
    )
    cluster_of = {}
    for row in result.dups:
        cluster_of[row.id] = cluster_of[row.dup_of] = row.cluster_id
    found = sum(1 for a, b in gen.planted if a in cluster_of and cluster_of.get(a) == cluster_of.get(b))
    memory_limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    threads = con.execute("SELECT current_setting('threads')").fetchone()[0]
    con.close()

    print(f"documents        {args.docs:,} ({chars / 1e6:,.0f} MB of text)")
    print(f"dups             {len(result.dups):,} in {result.clusters:,} clusters, by method {result.by_method}")
    print(f"planted copies   {len(gen.planted):,}, found in their original's cluster: {found:,}")
    print(f"wall time        {time.perf_counter() - started:,.1f} s in all")
    peak = peak_rss_mb()
    print(f"peak RSS         {peak:,.0f} MB ({peak / 1024:.2f} GiB; goal < 4 GiB)")
    print(f"DuckDB           memory_limit {memory_limit}, threads {threads}, spilling to {spill}")
    if args.keep is None:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
