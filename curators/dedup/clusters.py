"""Deduplication: exact and near-duplicate clusters, verified, every removal traceable to a kept document.

The stage works on signature rows (`curators.dedup.minhash`, table `minhash`) inside DuckDB, so memory
stays bounded however many documents there are: DuckDB groups the LSH band keys (spilling to disk
when needed) and only candidate pairs come back to Python, a block at a time.

1. Exact: documents with the same `exact_hash` (hash of the normalised tokens) form a cluster.
2. Near: one representative per exact hash enters LSH. Documents sharing a band key are candidates:
   every pair within a bucket of up to `all_pairs_max_bucket` members; in a bigger bucket, each
   member with the bucket's first member and with its neighbour in id order (a bucket that big is a
   cluster of near-copies; pairing them all would be quadratic).
3. Verification: each candidate pair's exact Jaccard similarity of the shingle sets (re-shingled
   from the text) or, when configured, the MinHash estimate from the stored signatures; a pair counts
   when it reaches the threshold. Verified pairs are kept (`dup_pairs`) and never verified again by a
   later run with the same settings: that is what makes an incremental run cheap.
4. Clusters: connected components (union-find) of exact and verified pairs.
5. Survivors, by the `keep` policy (highest educational score when scored, then longest, then
   earliest: lowest (run, locator) order), protected members first (a reference corpus is never
   dropped in favour of what is checked against it): the best member is kept and what it was verified
   against removed, then the same with what is left, so a chain whose ends differ keeps several
   documents and no document is removed unless a kept one matched it. Every removed document is a row
   in `dups` with `dup_of` (the kept document), `matched_with` (the kept member of the verified pair),
   `similarity` of that pair (>= the threshold) and its `method`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

from curators.dedup.config import DedupConfig
from curators.dedup.lsh import band_pairs_sql
from curators.dedup.minhash import estimated_jaccard, jaccard, shingle_sets
from warehouse.arrays import string_array


@dataclass
class Pair:
    a: str
    b: str
    method: str
    similarity: float
    is_dup: bool


@dataclass
class DupRow:
    id: str
    method: str
    cluster_id: str
    dup_of: str
    similarity: float
    matched_with: str
    cluster_size: int
    cluster_kept: int = 1  # documents of the cluster that are kept

    def as_row(self, run_id: str, target: str) -> dict[str, Any]:
        return {**self.__dict__, "target": target, "run_id": run_id}


@dataclass
class DedupResult:
    dups: list[DupRow]
    clusters: int
    kept: int  # documents kept in the clusters (several in a chain whose ends do not match)
    exact_pairs: int
    candidates: int
    verified: int  # candidate pairs checked in this run
    reused: int  # candidate pairs whose outcome a previous run had verified
    near_pairs: int  # verified pairs at or above the threshold
    semantic_pairs: int = 0
    by_method: dict[str, int] = field(default_factory=dict)


TextsFn = Callable[[list[str]], dict[str, str]]
SignaturesFn = Callable[[list[str]], dict[str, np.ndarray]]
PairSink = Callable[[list[Pair]], None]


# A member matched in several ways is reported by the strongest evidence: exact, then MinHash, then cosine.
METHOD_RANK = {"exact": 0, "minhash": 1, "semantic": 2}


class UnionFind:
    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, x: str) -> str:
        parent = self.parent
        root = parent.setdefault(x, x)
        while root != parent[root]:
            root = parent[root]
        while x != root:  # path compression
            parent[x], x = root, parent[x]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            if rb < ra:
                ra, rb = rb, ra
            self.parent[rb] = ra

    def groups(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for x in self.parent:
            out[self.find(x)].append(x)
        return {root: members for root, members in out.items() if len(members) > 1}


def exact_pairs(con: duckdb.DuckDBPyConnection, sig: str) -> list[Pair]:
    """Each member of an exact-hash group paired with the group's first member (protected first, then id)."""
    rows = con.execute(
        f"""
        SELECT id, first_value(id) OVER w AS rep
        FROM {sig} WHERE n_shingles > 0
        WINDOW w AS (PARTITION BY exact_hash ORDER BY protected DESC, id)
        QUALIFY count(*) OVER (PARTITION BY exact_hash) > 1
        """
    ).fetchall()
    return [Pair(rep, i, "exact", 1.0, True) for i, rep in rows if i != rep]


# Groups the band keys of the `reps` table (idx, id, bands, protected) and returns SQL of the (a, b) idx
# pairs: by default all bands at once in this connection; `curators.dedup.store` hands ranges of bands to
# tasks instead (each with its own DuckDB) and returns the union of their files.
BandsMapper = Callable[[duckdb.DuckDBPyConnection, int], str]


def candidate_pairs(
    con: duckdb.DuckDBPyConnection, sig: str, config: DedupConfig, bands_mapper: BandsMapper | None = None
) -> str:
    """Create the temp table `candidates(a, b)` (ids, a < b, distinct) from shared band keys; returns its name.
    Pairs of two protected documents are left out: neither would be dropped. With the exact stage on,
    one document per exact hash stands for its copies (they are clustered already)."""
    partition = "exact_hash" if config.exact else "id"
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE reps AS
        SELECT row_number() OVER (ORDER BY id) - 1 AS idx, id, bands, protected FROM (
            SELECT id, bands, protected FROM {sig}
            WHERE n_shingles > 0 AND bands IS NOT NULL
            QUALIFY row_number() OVER (PARTITION BY {partition} ORDER BY protected DESC, id) = 1)
        """
    )
    n_bands = config.minhash.lsh[0]
    pairs_sql = (
        bands_mapper(con, n_bands)
        if bands_mapper is not None
        else band_pairs_sql("reps", 1, n_bands, config.all_pairs_max_bucket)
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE candidate_idx AS SELECT DISTINCT a, b FROM ({pairs_sql})")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE candidates AS
        SELECT ra.id AS a, rb.id AS b FROM candidate_idx c
        JOIN reps ra ON ra.idx = c.a JOIN reps rb ON rb.idx = c.b
        WHERE NOT (ra.protected AND rb.protected)
        """
    )
    con.execute("DROP TABLE candidate_idx")
    return "candidates"


def _blocks(con: duckdb.DuckDBPyConnection, sql: str, size: int) -> Iterator[list[tuple[str, str]]]:
    """The rows of `sql` (a, b), `size` at a time. Materialised first: the caller queries the same
    connection between blocks, which would end a streaming result."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE todo AS SELECT row_number() OVER () AS rn, * FROM ({sql})")
    (total,) = con.execute("SELECT count(*) FROM todo").fetchone()
    for start in range(0, total, size):
        yield con.execute(
            "SELECT a, b FROM todo WHERE rn > ? AND rn <= ? ORDER BY rn", [start, start + size]
        ).fetchall()
    con.execute("DROP TABLE todo")


def verify_block(
    pairs: list[tuple[str, str]], config: DedupConfig, texts: TextsFn, signatures: SignaturesFn | None
) -> list[Pair]:
    """The similarity of each candidate pair and whether it reaches the threshold."""
    ids = sorted({x for pair in pairs for x in pair})
    threshold = config.minhash.threshold
    out = []
    if config.verify == "minhash":
        if signatures is None:
            raise ValueError("verify = minhash needs stored signatures")
        sigs = signatures(ids)
        for a, b in pairs:
            sim = estimated_jaccard(sigs[a], sigs[b])
            out.append(Pair(a, b, "minhash", sim, sim >= threshold))
        return out
    found = texts(ids)
    present = [i for i in ids if i in found]
    sets = dict(zip(present, shingle_sets([found[i] for i in present], config.minhash), strict=True))
    for a, b in pairs:
        if a not in sets or b not in sets:
            continue  # a document gone since its signature was made: not a pair any more
        sim = jaccard(sets[a], sets[b])
        out.append(Pair(a, b, "minhash", sim, sim >= threshold))
    return out


# Verifies the candidate pairs of a SQL query (a, b), `n` of them, and returns those at or above the threshold;
# `curators.dedup.store` verifies blocks of them as tasks (each storing its verified pairs itself).
VerifyMapper = Callable[[duckdb.DuckDBPyConnection, str, int], list[Pair]]


def near_pairs(
    con: duckdb.DuckDBPyConnection,
    sig: str,
    config: DedupConfig,
    texts: TextsFn,
    signatures: SignaturesFn | None = None,
    known: str | None = None,
    sink: PairSink | None = None,
    progress: Callable[[int, int], None] | None = None,
    bands_mapper: BandsMapper | None = None,
    verify_mapper: VerifyMapper | None = None,
) -> tuple[list[Pair], int, int]:
    """Verified near-duplicate pairs. `known`: a table (a, b, similarity, is_dup) of pairs verified
    before with the same settings; those are reused, not re-verified. `sink` receives each newly
    verified block (to store it) before the next is started. Returns (pairs at or above the threshold,
    candidates, newly verified). With the mappers, band grouping and verification run as units of work
    elsewhere (`verify_mapper` stores what it verifies; `sink`, `texts` and `signatures` are not used)."""
    con.execute(f"SET memory_limit = '{config.memory_limit}'")
    candidate_pairs(con, sig, config, bands_mapper)
    (n_candidates,) = con.execute("SELECT count(*) FROM candidates").fetchone()
    dup: list[Pair] = []
    if known:
        for a, b, sim in con.execute(
            f"SELECT c.a, c.b, k.similarity FROM candidates c JOIN {known} k USING (a, b) WHERE k.is_dup"
        ).fetchall():
            dup.append(Pair(a, b, "minhash", float(sim), True))
        todo = f"SELECT a, b FROM candidates ANTI JOIN {known} USING (a, b) ORDER BY a, b"
    else:
        todo = "SELECT a, b FROM candidates ORDER BY a, b"
    (n_todo,) = con.execute(f"SELECT count(*) FROM ({todo})").fetchone()
    if verify_mapper is not None:
        dup.extend(verify_mapper(con, todo, n_todo))
        return dup, n_candidates, n_todo
    done = 0
    for block in _blocks(con, todo, config.verify_block_pairs):
        checked = verify_block(block, config, texts, signatures)
        if sink is not None:
            sink(checked)
        dup.extend(p for p in checked if p.is_dup)
        done += len(block)
        if progress:
            progress(done, n_todo)
    return dup, n_candidates, n_todo


def semantic_pairs(ids: list[str], vectors: np.ndarray, config: DedupConfig, seed: int = 0) -> list[Pair]:
    """Pairs with cosine >= semantic_threshold, searched only within k-means clusters (never all pairs).
    `vectors` are L2-normalised rows, one per id."""
    n = len(ids)
    if n < 2:
        return []
    from sklearn.cluster import MiniBatchKMeans

    k = max(1, n // config.semantic_cluster_size)
    if k > 1:
        rng = np.random.default_rng(seed)
        fit_rows = rng.choice(n, size=min(n, 50 * k + 1000), replace=False)
        km = MiniBatchKMeans(n_clusters=k, random_state=seed, n_init=3, batch_size=2048).fit(vectors[fit_rows])
        labels = np.concatenate([km.predict(vectors[i : i + 65536]) for i in range(0, n, 65536)])
    else:
        labels = np.zeros(n, dtype=np.int64)
    out = []
    for cluster in np.unique(labels):
        members = np.flatnonzero(labels == cluster)
        for start in range(0, members.size, 2048):
            rows = members[start : start + 2048]
            sims = vectors[rows] @ vectors[members].T
            ii, jj = np.nonzero(sims >= config.semantic_threshold)
            for i, j in zip(ii, jj, strict=True):
                a, b = ids[rows[i]], ids[members[j]]
                if a < b:
                    out.append(Pair(a, b, "semantic", float(sims[i, j]), True))
    return out


def _order_sql(config: DedupConfig) -> str:
    terms = ["p.protected DESC"]
    for rule in config.keep:
        if rule == "score":
            terms.append("p.score DESC NULLS LAST")
        elif rule == "length":
            terms.append("p.n_chars DESC")
        else:
            terms.append("p.order_key ASC")
    terms.append("m.id ASC")
    return ", ".join(terms)


def clusters_to_dups(
    con: duckdb.DuckDBPyConnection, priority: str, pairs: list[Pair], config: DedupConfig, protected: set[str]
) -> tuple[list[DupRow], int, int]:
    """Duplicates of `pairs`, each removed document tied to a kept one it was verified against.

    Exact pairs join documents whose normalised tokens are equal: a group that is a duplicate of one
    document is a duplicate of all. Verified near (and semantic) pairs join groups; the connected
    components of groups are the clusters (for `cluster_id`, `cluster_size`). Within a cluster, by the
    survivor policy (the `priority` table: protected first, then the `keep` rules): the best group not
    yet removed is kept (its best member survives; its exact twins are removed as its duplicates), every
    group it was verified against is removed as a duplicate of that survivor, and so on with what is
    left. So a chain A~B~C whose ends do not match keeps A and C; and every row's `dup_of` is kept and
    matched it at `similarity` >= the threshold (`matched_with`: the kept member of the verified pair,
    an exact twin of `dup_of`). Protected documents are never removed.
    Returns (rows, clusters, documents kept in clusters).
    """
    if not pairs:
        return [], 0, 0
    exact = UnionFind()
    for p in pairs:
        exact.find(p.a)
        exact.find(p.b)
        if p.method == "exact":
            exact.union(p.a, p.b)
    group_of = {x: exact.find(x) for x in exact.parent}
    linked = UnionFind()
    between: dict[tuple[str, str], Pair] = {}  # (group, group) -> the strongest pair between them
    for p in pairs:
        ga, gb = group_of[p.a], group_of[p.b]
        linked.union(ga, gb)
        if ga != gb:
            key = (min(ga, gb), max(ga, gb))
            best = between.get(key)
            if best is None or (METHOD_RANK[p.method], -p.similarity) < (METHOD_RANK[best.method], -best.similarity):
                between[key] = p
    rank = _priority_rank(con, priority, config, list(group_of))
    members: dict[str, list[str]] = defaultdict(list)  # group -> members, best first
    for x in sorted(group_of, key=rank.__getitem__):
        members[group_of[x]].append(x)
    neighbours: dict[str, set[str]] = defaultdict(set)
    for ga, gb in between:
        neighbours[ga].add(gb)
        neighbours[gb].add(ga)
    clusters: dict[str, list[str]] = defaultdict(list)  # component root -> its groups
    for g in members:
        clusters[linked.find(g)].append(g)
    rows: list[DupRow] = []
    kept_total = 0
    for groups in clusters.values():
        ids = [x for g in groups for x in members[g]]
        if len(ids) < 2:
            continue
        cluster_id, size = min(ids), len(ids)
        first_row = len(rows)
        removed: set[str] = set()
        kept: set[str] = set()
        for group in sorted(groups, key=lambda g: rank[members[g][0]]):
            if group in removed:
                continue
            kept.add(group)
            survivor = members[group][0]
            for twin in members[group][1:]:
                if twin in protected:
                    continue  # a protected document is never listed as a duplicate
                rows.append(DupRow(twin, "exact", cluster_id, survivor, 1.0, survivor, size))
            for other in sorted(neighbours[group] - removed - kept, key=lambda g: rank[members[g][0]]):
                if any(x in protected for x in members[other]):
                    continue  # kept: it will be a survivor of its own
                removed.add(other)
                pair = between[(min(group, other), max(group, other))]
                matched = pair.a if group_of[pair.a] == group else pair.b
                for x in members[other]:
                    rows.append(DupRow(x, pair.method, cluster_id, survivor, pair.similarity, matched, size))
        kept_here = sum(1 for g in kept for x in members[g] if x == members[g][0] or x in protected)
        for row in rows[first_row:]:
            row.cluster_kept = kept_here
        kept_total += kept_here
    return rows, sum(1 for groups in clusters.values() if sum(len(members[g]) for g in groups) > 1), kept_total


def _priority_rank(
    con: duckdb.DuckDBPyConnection, priority: str, config: DedupConfig, ids: list[str]
) -> dict[str, int]:
    """id -> its place in the survivor policy's order (0: the best), from the `priority` table."""
    con.register("cluster_members", pa.Table.from_arrays([string_array(ids)], names=["id"]))
    ordered = con.execute(
        f"SELECT m.id FROM cluster_members m LEFT JOIN {priority} p USING (id) ORDER BY {_order_sql(config)}"
    ).fetchall()
    con.unregister("cluster_members")
    return {row[0]: k for k, row in enumerate(ordered)}


def deduplicate(
    con: duckdb.DuckDBPyConnection,
    sig: str,
    priority: str,
    config: DedupConfig,
    texts: TextsFn,
    signatures: SignaturesFn | None = None,
    known: str | None = None,
    sink: PairSink | None = None,
    semantic: list[Pair] | None = None,
    progress: Callable[[int, int], None] | None = None,
    bands_mapper: BandsMapper | None = None,
    verify_mapper: VerifyMapper | None = None,
) -> DedupResult:
    """The whole stage over the signature table `sig` (id, exact_hash, n_shingles, bands, protected)."""
    edges: list[Pair] = []
    n_exact = 0
    if config.exact:
        found = exact_pairs(con, sig)
        n_exact = len(found)
        edges.extend(found)
    near: list[Pair] = []
    n_candidates = n_verified = 0
    if config.near:
        near, n_candidates, n_verified = near_pairs(
            con, sig, config, texts, signatures, known, sink, progress, bands_mapper, verify_mapper
        )
        edges.extend(near)
    if semantic and config.semantic == "remove":
        edges.extend(semantic)
    protected = {r[0] for r in con.execute(f"SELECT id FROM {sig} WHERE protected").fetchall()}
    rows, n_clusters, n_kept = clusters_to_dups(con, priority, edges, config, protected)
    by_method: dict[str, int] = defaultdict(int)
    for row in rows:
        by_method[row.method] += 1
    return DedupResult(
        dups=rows,
        clusters=n_clusters,
        kept=n_kept,
        exact_pairs=n_exact,
        candidates=n_candidates,
        verified=n_verified,
        reused=n_candidates - n_verified,
        near_pairs=len(near),
        semantic_pairs=len(semantic or []),
        by_method=dict(by_method),
    )


def find_duplicates(
    ids: list[str],
    texts: list[str],
    config: DedupConfig | None = None,
    scores: dict[str, float] | None = None,
    protected: set[str] | None = None,
    sink: PairSink | None = None,
    batch: int = 2048,
    threads: int | None = None,
) -> DedupResult:
    """The whole stage in memory, for a list of texts (no warehouse): signatures, exact and LSH
    candidates, verification, clusters and survivors. `order_key` (for the `earliest` rule) is the
    position in `ids`; `protected` documents are never reported as duplicates."""
    from curators.dedup.minhash import MinHasher, signature_table

    config = config or DedupConfig()
    if len(ids) != len(texts) or len(set(ids)) != len(ids):
        raise ValueError("ids must be distinct and as many as texts")
    hasher = MinHasher(config.minhash)
    parts = [
        signature_table(ids[i : i + batch], texts[i : i + batch], hasher, "memory") for i in range(0, len(ids), batch)
    ]
    table = pa.concat_tables(parts) if parts else None
    con = duckdb.connect(config={"threads": threads} if threads else {})
    try:
        protected = protected or set()
        extra = pa.table(
            {
                "id": pa.array(ids, pa.string()),
                "score": pa.array([None if scores is None else scores.get(i) for i in ids], pa.float32()),
                "order_key": pa.array([f"{k:012d}" for k in range(len(ids))], pa.string()),
                "protected": pa.array([i in protected for i in ids], pa.bool_()),
            }
        )
        con.register("extra_rows", extra)
        if table is None:
            table = pa.table({"id": pa.array([], pa.string())})
        con.register("minhash_rows", table)
        con.execute(
            "CREATE TABLE sig AS SELECT m.id, m.exact_hash, m.n_shingles, m.n_chars, m.bands, e.protected "
            "FROM minhash_rows m JOIN extra_rows e USING (id)"
            if len(ids)
            else "CREATE TABLE sig (id VARCHAR, exact_hash VARCHAR, n_shingles BIGINT, n_chars BIGINT, "
            "bands UBIGINT[], protected BOOLEAN)"
        )
        con.execute(
            "CREATE TABLE priority AS SELECT s.id, e.score, s.n_chars, e.order_key, e.protected "
            "FROM sig s JOIN extra_rows e USING (id)"
        )
        con.unregister("minhash_rows")
        con.unregister("extra_rows")
        by_id = dict(zip(ids, texts, strict=True))
        return deduplicate(con, "sig", "priority", config, texts=lambda want: {i: by_id[i] for i in want}, sink=sink)
    finally:
        con.close()
