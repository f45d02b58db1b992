"""The dedup stage in memory (curators/dedup.py): signatures of real text in an in-memory DuckDB, planted
exact and near-duplicates, verified pairs, clusters and the survivor policy."""

from __future__ import annotations

import re
from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pytest

from curators.config import DedupConfig, MinHashConfig
from curators.dedup.clusters import DedupResult, DupRow, Pair, deduplicate, semantic_pairs
from curators.dedup.minhash import MinHasher, jaccard, shingle_set, signature_table
from curators.ingest.plan import stdlib_dir
from tests.realtext import EXPLAINED_MODULES, docstrings


@dataclass
class Doc:
    id: str
    text: str
    score: float | None = None
    order_key: str | None = None
    protected: bool = False


def real_texts(n: int) -> list[str]:
    """`n` docstring collections of standard-library modules with at least 300 words each."""
    found = []
    for name in EXPLAINED_MODULES:
        text = docstrings(stdlib_dir() / f"{name}.py")
        if len(text.split()) >= 300:
            found.append(text)
    assert len(found) >= n
    return found[:n]


def delete_words(text: str, every: int, offset: int = 0) -> str:
    """`text` without every `every`-th word that has a letter or digit (starting at `offset`)."""
    kept, k = [], 0
    for word in text.split():
        if any(c.isalnum() for c in word):
            k += 1
            if k % every == offset % every:
                continue
        kept.append(word)
    return " ".join(kept)


def insert_word(text: str, at: int, word: str) -> str:
    """`text` with `word` inserted after its `at`-th space (the rest of the text unchanged)."""
    spaces = [m.start() for m in re.finditer(" ", text)]
    return text[: spaces[at]] + " " + word + text[spaces[at] :]


def exact_jaccard(a: str, b: str, config: MinHashConfig | None = None) -> float:
    config = config or MinHashConfig()
    return jaccard(shingle_set(a, config), shingle_set(b, config))


class Store:
    """Documents in an in-memory DuckDB: the `sig` and `priority` tables `deduplicate` reads."""

    def __init__(self, docs: list[Doc], config: DedupConfig) -> None:
        self.docs = {d.id: d for d in docs}
        self.config = config
        self.con = duckdb.connect()
        ids = [d.id for d in docs]
        table = signature_table(ids, [d.text for d in docs], MinHasher(config.minhash), "run-1")
        self.signature_bytes = dict(zip(ids, table.column("signature").to_pylist(), strict=True))
        self.con.register("m", table)
        self.con.register(
            "extra",
            pa.table(
                {
                    "id": ids,
                    "score": pa.array([d.score for d in docs], pa.float32()),
                    "order_key": [d.order_key or f"run-1:{i:06d}" for i, d in enumerate(docs)],
                    "protected": [d.protected for d in docs],
                }
            ),
        )
        self.con.execute(
            "CREATE TABLE sig AS SELECT id, exact_hash, n_shingles, n_chars, bands, e.protected "
            "FROM m JOIN extra e USING (id)"
        )
        self.con.execute(
            "CREATE TABLE priority AS SELECT id, e.score, n_chars, e.order_key, e.protected "
            "FROM m JOIN extra e USING (id)"
        )
        self.texts_asked: list[str] = []

    def texts(self, ids: list[str]) -> dict[str, str]:
        self.texts_asked.extend(ids)
        return {i: self.docs[i].text for i in ids}

    def signatures(self, ids: list[str]) -> dict[str, np.ndarray]:
        return {i: np.frombuffer(self.signature_bytes[i], dtype="<u4") for i in ids if self.signature_bytes[i]}

    def run(self, **kwargs: object) -> DedupResult:
        return deduplicate(self.con, "sig", "priority", self.config, texts=self.texts, **kwargs)


def dedup(docs: list[Doc], config: DedupConfig | None = None, **kwargs: object) -> DedupResult:
    return Store(docs, config or DedupConfig()).run(**kwargs)


def clusters(result: DedupResult) -> dict[str, set[str]]:
    """cluster_id -> members (the survivor and its dups)."""
    out: dict[str, set[str]] = {}
    for row in result.dups:
        out.setdefault(row.cluster_id, set()).update({row.id, row.dup_of})
    return out


def survivors(result: DedupResult) -> set[str]:
    return {row.dup_of for row in result.dups}


def check_rows_are_consistent(result: DedupResult, docs: list[Doc]) -> None:
    """The invariants of `dups` (for corpora where no protected document is hidden in a cluster): every
    removed document was verified against a kept one, its `dup_of`, at or above the threshold."""
    config = MinHashConfig()
    by_id = {d.id: d for d in docs}
    dup_ids = [row.id for row in result.dups]
    assert len(dup_ids) == len(set(dup_ids))  # one row per dropped document
    for cluster_id, members in clusters(result).items():
        rows = [r for r in result.dups if r.cluster_id == cluster_id]
        assert cluster_id <= min(members)
        for row in rows:
            assert row.dup_of not in dup_ids  # what a document duplicates is kept
            assert row.cluster_size == len(rows) + row.cluster_kept
            assert row.matched_with != row.id
            if row.method == "exact":
                assert row.similarity == 1.0 and row.matched_with == row.dup_of
            else:
                true = exact_jaccard(by_id[row.id].text, by_id[row.dup_of].text, config)
                assert row.similarity == pytest.approx(true, abs=1e-6) and true >= config.threshold
    assert result.clusters == len(clusters(result))


# --- Near-duplicates: found above the threshold, not below ---------------------------------------


def test_planted_near_duplicates_are_found_and_far_ones_are_not() -> None:
    bases = real_texts(16)
    docs = [Doc(f"base{i:02d}", t) for i, t in enumerate(bases)]
    near, far = {}, {}
    for i, text in enumerate(bases[:8]):
        copy = insert_word(delete_words(text, 100, offset=i), 100, "moreover")
        assert 0.88 <= exact_jaccard(text, copy) <= 0.95
        near[f"near{i:02d}"] = f"base{i:02d}"
        docs.append(Doc(f"near{i:02d}", copy))
    for i, text in enumerate(bases[8:], start=8):
        copy = delete_words(text, 12, offset=i)
        assert 0.3 <= exact_jaccard(text, copy) <= 0.6
        far[f"far{i:02d}"] = f"base{i:02d}"
        docs.append(Doc(f"far{i:02d}", copy))

    result = dedup(docs)
    assert {row.id: row.dup_of for row in result.dups} == near  # the longer original survives
    assert all(row.method == "minhash" and row.cluster_size == 2 for row in result.dups)
    assert result.near_pairs == 8 and result.exact_pairs == 0 and result.clusters == 8
    assert result.candidates >= 8 and result.verified == result.candidates and result.reused == 0
    assert result.by_method == {"minhash": 8}
    check_rows_are_consistent(result, docs)


def test_a_threshold_moves_what_counts() -> None:
    base = real_texts(1)[0]
    copy = delete_words(base, 14)
    j = exact_jaccard(base, copy)
    assert 0.3 <= j <= 0.65
    docs = [Doc("a", base), Doc("b", copy)]
    assert dedup(docs).dups == []
    low = DedupConfig(minhash=MinHashConfig(threshold=j - 0.1))
    (row,) = dedup(docs, low).dups
    assert (row.id, row.dup_of) == ("b", "a") and row.similarity == pytest.approx(j)


def test_a_chain_keeps_every_document_no_kept_one_matched() -> None:
    """A~B~C with J(A, C) < t: never remove C as a duplicate of A; keep it, or remove it as a duplicate
    of a kept document it was verified against."""
    base, other = real_texts(2)
    chain = [base]
    for step in range(5):
        chain.append(delete_words(chain[-1], 70, offset=step * 13))
    assert all(exact_jaccard(a, b) >= 0.85 for a, b in zip(chain, chain[1:], strict=False))
    # Only neighbours are duplicates: each link is needed.
    assert all(exact_jaccard(chain[i], chain[i + 2]) < 0.8 for i in range(4))
    docs = [Doc(f"c{k}", t) for k, t in enumerate(chain)]
    docs += [Doc("x0", other), Doc("x1", other.upper()), Doc("x2", "  ".join(other.split()))]

    result = dedup(docs)
    rows = {r.id: r for r in result.dups}
    # The longest (c0) is kept and its match c1 removed; c2 matched only c1 (removed), so it is kept, and so on.
    assert {i: (r.dup_of, r.matched_with) for i, r in rows.items() if i.startswith("c")} == {
        "c1": ("c0", "c0"),
        "c3": ("c2", "c2"),
        "c5": ("c4", "c4"),
    }
    assert all(
        rows[c].cluster_id == "c0" and (rows[c].cluster_size, rows[c].cluster_kept) == (6, 3)
        for c in ["c1", "c3", "c5"]
    )
    assert [r.method for r in result.dups if r.cluster_id == "x0"] == ["exact", "exact"]
    assert result.clusters == 2 and result.kept == 4
    check_rows_are_consistent(result, docs)


def test_a_kept_document_removes_the_exact_twins_of_what_it_matched() -> None:
    """B and its exact twin B' both duplicate the kept A (their normalised texts are one)."""
    base = real_texts(1)[0]
    near = delete_words(base, 70)
    docs = [Doc("a", base), Doc("b", near, order_key="r:1"), Doc("b2", near.upper(), order_key="r:2")]
    result = dedup(docs)
    assert {(r.id, r.dup_of, r.method) for r in result.dups} == {("b", "a", "minhash"), ("b2", "a", "minhash")}
    check_rows_are_consistent(result, docs)


# --- Exact duplicates ------------------------------------------------------------------------------


def test_exact_duplicates_after_normalisation_are_exact_with_similarity_one() -> None:
    text = real_texts(1)[0]
    variants = [
        text,
        text.upper(),
        "\n\n".join(" ".join(p.split()) for p in text.split("\n\n")) + "   \n",
        text.replace(",", "").replace(".", " ."),
        text.replace("(", "[").replace(")", "]"),
    ]
    docs = [Doc(f"v{i}", t) for i, t in enumerate(variants)]
    result = dedup(docs)
    assert {r.id for r in result.dups} | survivors(result) == {d.id for d in docs}
    assert all(r.method == "exact" and r.similarity == 1.0 and r.cluster_size == 5 for r in result.dups)
    assert result.exact_pairs == 4 and result.candidates == 0 and result.verified == 0
    check_rows_are_consistent(result, docs)


def test_documents_without_shingles_are_never_duplicates_and_short_ones_only_of_the_same_tokens() -> None:
    docs = [
        Doc("p1", "!!! ???"),
        Doc("p2", "!!! ???"),
        Doc("p3", "... --- ..."),
        Doc("s1", "Hello world"),
        Doc("s2", "hello, WORLD!"),
        Doc("s3", "hello world again"),
        Doc("r1", "spam " * 300),
        Doc("r2", "spam " * 200),
    ]
    result = dedup(docs)
    rows = {(r.id, r.dup_of, r.method, r.similarity) for r in result.dups}
    # s1/s2: the same tokens (s2 is longer); r1/r2: the same one shingle, not the same tokens -> near at 1.0.
    assert rows == {("s1", "s2", "exact", 1.0), ("r2", "r1", "minhash", 1.0)}


def test_a_document_gone_before_verification_is_not_a_pair() -> None:
    base = real_texts(1)[0]
    store = Store([Doc("a", base), Doc("b", delete_words(base, 80))], DedupConfig())
    store.texts = lambda ids: {i: store.docs[i].text for i in ids if i != "b"}  # type: ignore[method-assign]
    result = store.run()
    assert result.candidates == 1 and result.dups == []


# --- Survivor policy -------------------------------------------------------------------------------


def test_survivor_score_decides_first() -> None:
    base = real_texts(1)[0]
    shorter = delete_words(base, 80)
    docs = [Doc("a", base, score=2.0, order_key="r:1"), Doc("b", shorter, score=4.0, order_key="r:2")]
    (row,) = dedup(docs).dups
    assert (row.id, row.dup_of) == ("a", "b")  # higher score beats longer and earlier
    # A missing score loses to any score.
    docs = [Doc("a", base, score=None, order_key="r:1"), Doc("b", shorter, score=0.5, order_key="r:2")]
    (row,) = dedup(docs).dups
    assert row.dup_of == "b"


def test_survivor_length_decides_when_scores_tie() -> None:
    base = real_texts(1)[0]
    longer = insert_word(base, 50, "additionally")
    docs = [Doc("a", base, score=3.0, order_key="r:1"), Doc("b", longer, score=3.0, order_key="r:2")]
    (row,) = dedup(docs).dups
    assert (row.id, row.dup_of) == ("a", "b")  # longer beats earlier
    docs = [Doc("a", base, order_key="r:1"), Doc("b", longer, order_key="r:2")]  # no scores at all
    (row,) = dedup(docs).dups
    assert row.dup_of == "b"


def test_survivor_earliest_decides_when_score_and_length_tie() -> None:
    base = real_texts(1)[0]
    # Same length, same score: the earliest (lowest order_key) survives, whatever the id order.
    docs = [
        Doc("a", base.upper(), score=3.0, order_key="run-2:1"),
        Doc("b", base, score=3.0, order_key="run-3:1"),
        Doc("z", base.lower(), score=3.0, order_key="run-1:9"),
    ]
    result = dedup(docs)
    assert survivors(result) == {"z"} and {r.id for r in result.dups} == {"a", "b"}
    assert {r.cluster_id for r in result.dups} == {"a"}  # the cluster is named by its smallest id


def test_the_keep_order_is_configurable() -> None:
    base = real_texts(1)[0]
    longer = insert_word(base, 50, "additionally")
    docs = [
        Doc("a", base, score=1.0, order_key="r:1"),
        Doc("b", longer, score=2.0, order_key="r:2"),
        Doc("c", base.upper(), score=5.0, order_key="r:3"),
    ]
    assert survivors(dedup(docs)) == {"c"}
    assert survivors(dedup(docs, DedupConfig(keep=["earliest"]))) == {"a"}
    assert survivors(dedup(docs, DedupConfig(keep=["length", "score"]))) == {"b"}


# --- Protected documents ---------------------------------------------------------------------------


def test_protected_documents_survive_and_are_never_dups() -> None:
    base, other = real_texts(2)
    docs = [
        Doc("a", base, score=5.0, order_key="r:1"),
        Doc("b", insert_word(base, 30, "indeed"), score=5.0, order_key="r:2"),
        Doc("p", delete_words(base, 70), score=0.0, order_key="r:9", protected=True),
    ]
    result = dedup(docs)
    assert survivors(result) == {"p"} and {r.id for r in result.dups} == {"a", "b"}
    check_rows_are_consistent(result, docs)

    # Two protected exact copies and one target copy: only the target copy is a dup.
    docs = [
        Doc("p1", other, protected=True),
        Doc("p2", other.upper(), protected=True),
        Doc("t", other.lower(), order_key="r:0"),
    ]
    result = dedup(docs)
    (row,) = result.dups
    assert row.id == "t" and row.dup_of in {"p1", "p2"} and row.method == "exact"
    assert row.cluster_size == 3 and row.cluster_id == "p1"


def test_two_protected_near_copies_are_not_even_candidates() -> None:
    base = real_texts(1)[0]
    docs = [Doc("p1", base, protected=True), Doc("p2", delete_words(base, 80), protected=True)]
    result = dedup(docs)
    assert result.candidates == 0 and result.dups == []


# --- Big buckets -----------------------------------------------------------------------------------


@pytest.mark.parametrize("max_bucket", [32, 2])
def test_a_bucket_bigger_than_all_pairs_max_still_clusters_every_member(max_bucket: int) -> None:
    base, other = real_texts(2)
    docs = [Doc("base", base)]
    for k in range(60):  # 60 near-copies, each without another word: a bucket of 61 in most bands
        docs.append(Doc(f"copy{k:02d}", delete_words(base, 1000, offset=1 + 5 * k)))
    docs.append(Doc("other", other))
    assert len({d.text for d in docs}) == len(docs)
    config = DedupConfig(all_pairs_max_bucket=max_bucket)
    result = dedup(docs, config)
    assert clusters(result) == {"base": {d.id for d in docs} - {"other"}}
    assert survivors(result) == {"base"} and result.exact_pairs == 0
    assert result.candidates < (61 * 60 // 2) // 4  # first member + neighbours, not all pairs
    check_rows_are_consistent(result, docs)


# --- Known pairs: a rerun verifies nothing again ------------------------------------------------------


def planted_corpus() -> list[Doc]:
    bases = real_texts(12)
    docs = [Doc(f"b{i:02d}", t) for i, t in enumerate(bases)]
    for i, text in enumerate(bases[:6]):
        docs.append(Doc(f"n{i:02d}", delete_words(text, 50, offset=i)))
        docs.append(Doc(f"m{i:02d}", insert_word(delete_words(text, 90, offset=i), 20, "also")))
    for i, text in enumerate(bases[6:], start=6):
        docs.append(Doc(f"f{i:02d}", delete_words(text, 16, offset=i)))
    return docs


def known_table(con: duckdb.DuckDBPyConnection, pairs: list[Pair]) -> str:
    con.register(
        "known_arrow",
        pa.table(
            {
                "a": [p.a for p in pairs],
                "b": [p.b for p in pairs],
                "similarity": pa.array([p.similarity for p in pairs], pa.float32()),
                "is_dup": [p.is_dup for p in pairs],
            }
        ),
    )
    con.execute("CREATE OR REPLACE TABLE known AS SELECT * FROM known_arrow")
    return "known"


def row_key(rows: list[DupRow]) -> list[tuple]:
    return sorted((r.id, r.dup_of, r.cluster_id, r.matched_with, r.method, round(r.similarity, 5)) for r in rows)


def test_known_pairs_are_reused_and_give_the_same_dups() -> None:
    docs = planted_corpus()
    config = DedupConfig(verify_block_pairs=3)
    store = Store(docs, config)
    verified: list[Pair] = []
    blocks: list[int] = []
    first = store.run(sink=lambda ps: (verified.extend(ps), blocks.append(len(ps))))
    assert first.verified == first.candidates == len(verified) > 3
    assert max(blocks) <= 3 and len(blocks) == -(-first.candidates // 3)
    assert len(first.dups) == 12  # every n and m copy

    store.texts_asked.clear()
    again = store.run(known=known_table(store.con, verified))
    assert again.verified == 0 and again.reused == again.candidates == first.candidates
    assert store.texts_asked == []  # nothing was read to verify
    assert row_key(again.dups) == row_key(first.dups)

    # Half of the pairs known (as after a run killed half way): only the other half is verified.
    half = verified[: len(verified) // 2]
    resumed = store.run(known=known_table(store.con, half))
    assert resumed.verified == first.candidates - len(half)
    assert row_key(resumed.dups) == row_key(first.dups)


# --- Verification by MinHash estimate -----------------------------------------------------------------


def test_verify_by_minhash_estimate_with_stored_signatures() -> None:
    docs = planted_corpus()
    exact = dedup(docs)
    config = DedupConfig(verify="minhash")
    store = Store(docs, config)
    result = store.run(signatures=store.signatures)
    assert store.texts_asked == []  # the estimate needs no text
    assert {(r.id, r.dup_of) for r in result.dups} == {(r.id, r.dup_of) for r in exact.dups}
    perms = config.minhash.permutations
    for row in result.dups:
        assert row.method == "minhash" and row.similarity >= config.minhash.threshold
        assert row.similarity * perms == pytest.approx(round(row.similarity * perms))  # a share of perms
    with pytest.raises(ValueError, match="needs stored signatures"):
        Store(docs, config).run()


# --- Semantic pairs --------------------------------------------------------------------------------------


def test_semantic_pairs_find_planted_near_identical_vectors_within_clusters() -> None:
    rng = np.random.default_rng(0)
    n, dim = 3000, 48
    vectors = rng.normal(size=(n, dim)).astype(np.float32)
    planted = set()
    for k in range(25):
        i, j = 2 * k, 2000 + 3 * k
        vectors[j] = vectors[i] + rng.normal(scale=0.05, size=dim).astype(np.float32)
        planted.add((f"d{i:05d}", f"d{j:05d}"))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"d{i:05d}" for i in range(n)]
    config = DedupConfig(semantic="report", semantic_cluster_size=300)
    pairs = semantic_pairs(ids, vectors, config)
    assert {(p.a, p.b) for p in pairs} == planted
    assert all(p.method == "semantic" and p.similarity >= 0.95 and p.a < p.b for p in pairs)
    assert semantic_pairs(ids[:1], vectors[:1], config) == []


def test_semantic_pairs_join_clusters_only_when_removed() -> None:
    texts = real_texts(3)
    docs = [Doc(f"d{i}", t) for i, t in enumerate(texts)]
    semantic = [Pair("d0", "d2", "semantic", 0.97, True)]
    assert dedup(docs, DedupConfig(semantic="report"), semantic=semantic).dups == []
    result = dedup(docs, DedupConfig(semantic="remove"), semantic=semantic)
    (row,) = result.dups
    assert (row.method, row.similarity, row.matched_with) == ("semantic", pytest.approx(0.97), row.dup_of)
    assert result.semantic_pairs == 1 and result.by_method == {"semantic": 1}
