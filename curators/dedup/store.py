"""The dedup stage over the warehouse: a `minhash` shard per input shard, then clusters into `dups`.

Signatures are computed once per input shard and signature config (`minhash` shards named by their
input shard, with done-markers): a new batch of documents adds shards, the old ones are read back,
never recomputed. The cluster step runs in an in-memory DuckDB that spills to
`<root>/tmp/dedup-<run>/`, reads the signature shards directly, and writes verified pairs
(`dup_pairs`) block by block, so a killed run, rerun, verifies only what it had not.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from curators.dedup.clusters import DedupResult, Pair, deduplicate, semantic_pairs, verify_block
from curators.dedup.config import DedupConfig, MinHashConfig
from curators.dedup.lsh import band_pairs_sql
from curators.dedup.minhash import MinHasher, signature_table
from curators.errors import CurateError
from warehouse.arrays import bool_array, number_array, string_array
from warehouse.catalog import db_path, sql_list
from warehouse.listings import TextTable, text_shards
from warehouse.mapper import Mapped, map_shard
from warehouse.schemas import DUP_PAIRS, MINHASH
from warehouse.shards import done_shards, run_dir, shard_name, write_run_rows, write_shard

READ_BATCH = 2048


def signature_shard(root: Path, run_id: str, shard: str, config: MinHashConfig) -> Mapped:
    """MinHash signatures of one input shard (`computed` is False when a done shard was found)."""

    def compute(path: Path) -> pa.Table:
        hasher = MinHasher(config)
        parts = [
            signature_table(batch.column("id").to_pylist(), batch.column("text").to_pylist(), hasher, run_id)
            for batch in pq.ParquetFile(path).iter_batches(batch_size=READ_BATCH, columns=["id", "text"])
        ]
        return pa.concat_tables(parts) if parts else MINHASH.empty_table()

    return map_shard(root, run_id, "minhash", shard, config.sig_config, compute)


def _signature_files(root: Path) -> list[Path]:
    return [p for p, _ in done_shards(root, "minhash")]


def _prepare(
    con: duckdb.DuckDBPyConnection, root: Path, target: TextTable, against: list[TextTable], sig_config: str
) -> int:
    """Tables `locs` (id, filename, protected), `sig` (signature rows of the current documents) and
    `priority` (survivor policy inputs). Returns the number of documents."""
    files = {t: text_shards(root, t) for t in [target, *against]}
    if not files[target]:
        raise CurateError(f"nothing to deduplicate: no {target} yet", hint="run `curate ingest` (or `curate synth`)")
    selects = []
    for t, paths in files.items():
        if not paths:
            continue
        order = "run_id || ':' || locator" if t == "docs" else "run_id || ':' || id"
        # An instruction or response that failed a rule keeps its text for audits; only the ok ones compete.
        where = " WHERE status = 'ok'" if t in ("instructions", "responses") else ""
        selects.append(
            f"SELECT id, filename, {order} AS order_key, {'true' if t != target else 'false'} AS protected "
            f"FROM read_parquet({sql_list(paths)}, filename = true, union_by_name = true){where}"
        )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE locs AS SELECT * FROM (" + " UNION ALL ".join(selects) + ") "
        "QUALIFY row_number() OVER (PARTITION BY id ORDER BY protected DESC, order_key DESC) = 1"
    )
    sig_files = _signature_files(root)
    if not sig_files:
        raise CurateError("no signatures", hint="run `curate dedup` (it computes them first)")
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE sig AS
        SELECT m.id, m.exact_hash, m.n_shingles, m.n_chars, m.bands, l.protected
        FROM read_parquet({sql_list(sig_files)}) m JOIN locs l USING (id)
        WHERE m.sig_config = '{sig_config}'
        QUALIFY row_number() OVER (PARTITION BY m.id ORDER BY m.run_id DESC) = 1
        """
    )
    (missing,) = con.execute("SELECT count(*) FROM locs ANTI JOIN sig USING (id)").fetchone()
    if missing:
        raise CurateError(f"{missing} documents have no signature for this config", hint="rerun `curate dedup`")
    con.execute("CREATE OR REPLACE TEMP TABLE doc_scores (id VARCHAR, score FLOAT)")
    if db_path(root).exists():
        con.execute(f"ATTACH '{db_path(root)}' AS wh (READ_ONLY)")
        has_scores = con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE database_name = 'wh' AND view_name = 'scores'"
        ).fetchone()[0]
        if has_scores:
            con.execute("INSERT INTO doc_scores SELECT id, score FROM wh.scores")
        con.execute("DETACH wh")
    con.execute(
        """
        CREATE OR REPLACE TEMP TABLE priority AS
        SELECT sig.id, s.score, sig.n_chars, l.order_key, sig.protected
        FROM sig JOIN locs l USING (id) LEFT JOIN doc_scores s USING (id)
        """
    )
    return con.execute("SELECT count(*) FROM sig WHERE NOT protected").fetchone()[0]


def _texts_fn(con: duckdb.DuckDBPyConnection) -> Callable[[list[str]], dict[str, str]]:
    # Read with DuckDB, the ids given as a list: pyarrow's `read_table` and `pa.array` import pandas (~0.3 s in a
    # process that verifies), and DuckDB reads only the wanted rows' texts.
    def texts(ids: list[str]) -> dict[str, str]:
        by_file: dict[str, list[str]] = {}
        for i, f in con.execute(f"SELECT id, filename FROM locs WHERE id IN {_WANTED}", [ids]).fetchall():
            by_file.setdefault(f, []).append(i)
        out: dict[str, str] = {}
        for filename, file_ids in by_file.items():
            query = f"SELECT id, text FROM read_parquet(?) WHERE id IN {_WANTED}"
            out.update(con.execute(query, [filename, file_ids]).fetchall())
        return out

    return texts


_WANTED = "(SELECT unnest(?::VARCHAR[]))"  # the ids of a list parameter


def _signatures_fn(con: duckdb.DuckDBPyConnection, root: Path, sig_config: str) -> Callable:
    files = sql_list(_signature_files(root))

    def signatures(ids: list[str]) -> dict[str, np.ndarray]:
        rows = con.execute(
            f"SELECT id, signature FROM read_parquet({files}) WHERE id IN {_WANTED} "
            f"AND sig_config = '{sig_config}' AND signature IS NOT NULL",
            [ids],
        ).fetchall()
        return {i: np.frombuffer(s, dtype="<u4") for i, s in rows}

    return signatures


def _known_pairs(con: duckdb.DuckDBPyConnection, root: Path, verify_config: str) -> str | None:
    files = [p for p, _ in done_shards(root, "dup_pairs")]
    if not files:
        return None
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE known AS
        SELECT a, b, any_value(similarity) AS similarity, bool_or(is_dup) AS is_dup
        FROM read_parquet({sql_list(files)})
        WHERE verify_config = '{verify_config}' AND method = 'minhash'
        GROUP BY a, b
        """
    )
    return "known"


def _pairs_table(pairs: list[Pair], verify_config: str, run_id: str) -> pa.Table:
    n = len(pairs)
    columns = [
        string_array([p.a for p in pairs]),
        string_array([p.b for p in pairs]),
        string_array([p.method for p in pairs]),
        number_array([p.similarity for p in pairs], pa.float32()),
        bool_array([p.is_dup for p in pairs]),
        string_array([verify_config] * n),
        string_array([run_id] * n),
    ]
    return pa.Table.from_arrays(columns, schema=DUP_PAIRS)


def _semantic(con: duckdb.DuckDBPyConnection, root: Path, config: DedupConfig) -> list[Pair]:
    files = [p for p, _ in done_shards(root, "embeddings")]
    if not files:
        raise CurateError("semantic dedup needs embeddings", hint="run `curate score` first (it embeds the corpus)")
    result = con.execute(
        f"""
        SELECT e.id, e.vector FROM read_parquet({sql_list(files)}) e SEMI JOIN sig USING (id)
        QUALIFY row_number() OVER (PARTITION BY e.id ORDER BY e.run_id DESC) = 1
        ORDER BY e.id
        """
    )
    # DuckDB 2 names it to_arrow_table; 1.x fetch_arrow_table.
    table = result.to_arrow_table() if hasattr(result, "to_arrow_table") else result.fetch_arrow_table()
    n = table.num_rows
    if n < 2:
        return []
    vectors = np.asarray(table.column("vector").combine_chunks().flatten(), dtype=np.float32).reshape(n, -1)
    return semantic_pairs(table.column("id").to_pylist(), vectors, config)


# --- units of work of the cluster step: band ranges and verification blocks --------------------------------
# The cluster step hands them to `map_bands` / `map_verify` (the flow runs them as tasks: threads, or a Dask
# cluster with the data root on shared storage). Each takes file paths and small values, never a connection.


@dataclass(frozen=True)
class BandJob:
    """Group the band keys of bands first..last of the reps file; write the (a, b) idx pairs to `out`."""

    reps: str
    first: int
    last: int
    max_bucket: int
    memory_limit: str
    out: str


@dataclass(frozen=True)
class VerifyJob:
    """Verify the candidate pairs with row numbers in (start, end] of the todo file; store them as a
    `dup_pairs` shard; return those at or above the threshold."""

    root: str
    todo: str
    locs: str
    start: int
    end: int
    config: DedupConfig
    run_id: str
    shard: str  # the dup_pairs shard this block writes


def band_pairs(job: BandJob) -> str:
    """Run a `BandJob` in a DuckDB of its own; returns the file written."""
    con = duckdb.connect()
    try:
        con.execute(f"SET memory_limit = '{job.memory_limit}'")
        reps = f"read_parquet('{job.reps}')"
        sql = band_pairs_sql(reps, job.first, job.last, job.max_bucket)
        con.execute(f"COPY ({sql}) TO '{job.out}' (FORMAT parquet)")
    finally:
        con.close()
    return job.out


def verify_pairs(job: VerifyJob) -> list[tuple[str, str, float]]:
    """Run a `VerifyJob`: the pairs of its block, their texts (or signatures), `verify_block`, the shard."""
    root, config = Path(job.root), job.config
    con = duckdb.connect()
    try:
        block = con.execute(
            f"SELECT a, b FROM read_parquet('{job.todo}') WHERE rn > ? AND rn <= ? ORDER BY rn", [job.start, job.end]
        ).fetchall()
        con.execute(f"CREATE TEMP TABLE locs AS SELECT * FROM read_parquet('{job.locs}')")
        signatures = _signatures_fn(con, root, config.minhash.sig_config) if config.verify == "minhash" else None
        checked = verify_block(block, config, _texts_fn(con), signatures)
    finally:
        con.close()
    write_shard(Path(job.shard), _pairs_table(checked, config.verify_config, job.run_id), table="dup_pairs")
    return [(p.a, p.b, p.similarity) for p in checked if p.is_dup]


def band_ranges(n_bands: int, tasks: int) -> list[tuple[int, int]]:
    """`tasks` (at most `n_bands`) contiguous ranges of bands, 1-based and inclusive, covering them all."""
    tasks = max(1, min(tasks, n_bands))
    bounds = [round(k * n_bands / tasks) for k in range(tasks + 1)]
    return [(bounds[k] + 1, bounds[k + 1]) for k in range(tasks)]


# Fewer candidate pairs than this are one block however many processes could verify them: a block's own cost
# (its DuckDB, its texts read, a new worker process) against ~0.1 ms a pair. Measured on 2 cores, verification
# alone (signatures reused), in the flow's thread against two or more blocks in processes: real code, 1,014 pairs
# 0.9-1.1 s against 1.2-1.3 s; near duplicates, 24,373 pairs 2.3-2.5 s against 2.0-2.9 s (even), 86,650 pairs
# 8.9-10.2 s against 5.9-7.5 s. So a second process from ~25,000 pairs.
MIN_VERIFY_BLOCK_PAIRS = 12_000


def verify_block_size(n_pairs: int, max_pairs: int, blocks: int = 1) -> int:
    """Pairs per verification block: at most `max_pairs`; fewer, so that `blocks` blocks run at once, when each
    still holds MIN_VERIFY_BLOCK_PAIRS."""
    wanted = -(-n_pairs // max(1, blocks))  # (ceiling)
    return max(1, min(max_pairs, max(wanted, MIN_VERIFY_BLOCK_PAIRS)))


MapBands = Callable[[list[BandJob]], list[str]]
MapVerify = Callable[[list[VerifyJob], int], list[list[tuple[str, str, float]]]]


def cluster(
    root: Path,
    run_id: str,
    target: TextTable,
    config: DedupConfig,
    against: list[TextTable] | None = None,
    progress: Callable[[int, int], None] | None = None,
    map_bands: MapBands | None = None,
    map_verify: MapVerify | None = None,
    verify_blocks: int = 1,
) -> tuple[DedupResult, int]:
    """Find the duplicates of `target` (against protected reference tables) and write `dups`.
    Returns the result and the number of documents of `target` considered. `map_bands` / `map_verify`
    run the band ranges and verification blocks as units of work (the flow's tasks); without them the
    whole step runs in this process. `verify_blocks`: how many blocks `map_verify` can run at once (its worker
    processes): the candidate pairs are cut into at least that many blocks when each still holds
    MIN_VERIFY_BLOCK_PAIRS, and never into blocks over `config.verify_block_pairs`."""
    root = Path(root)
    tmp = root / "tmp" / f"dedup-{run_id}"
    shutil.rmtree(tmp, ignore_errors=True)  # spill files of a killed run: stale, never read
    tmp.mkdir(parents=True)
    con = duckdb.connect(config={"temp_directory": str(tmp)})
    try:
        sig_config = config.minhash.sig_config
        n_docs = _prepare(con, root, target, against or [], sig_config)
        known = _known_pairs(con, root, config.verify_config)
        attempt = int(time.time() * 1000) % 100_000
        written = [0]

        def sink(pairs: list[Pair]) -> None:
            shard = run_dir(root, "dup_pairs", run_id) / shard_name(attempt, written[0])
            write_shard(shard, _pairs_table(pairs, config.verify_config, run_id), table="dup_pairs")
            written[0] += 1

        semantic = _semantic(con, root, config) if config.semantic != "off" else []
        if semantic:
            write_shard(
                run_dir(root, "dup_pairs", run_id) / shard_name(attempt, 99_999),
                _pairs_table(semantic, config.verify_config, run_id),
                table="dup_pairs",
            )
        bands_mapper = verify_mapper = None
        if map_bands is not None:

            def bands_mapper(con: duckdb.DuckDBPyConnection, n_bands: int) -> str:
                reps = tmp / "reps.parquet"
                con.execute(f"COPY (SELECT idx, bands FROM reps) TO '{reps}' (FORMAT parquet)")
                jobs = [
                    BandJob(str(reps), first, last, config.all_pairs_max_bucket, config.memory_limit,
                            str(tmp / f"pairs-{first:03d}-{last:03d}.parquet"))
                    for first, last in band_ranges(n_bands, config.band_tasks)
                ]  # fmt: skip
                return f"SELECT a, b FROM read_parquet({sql_list(map_bands(jobs))})"

        if map_verify is not None:

            def verify_mapper(con: duckdb.DuckDBPyConnection, todo: str, n_todo: int) -> list[Pair]:
                todo_file, locs_file = tmp / "todo.parquet", tmp / "locs.parquet"
                con.execute(
                    f"COPY (SELECT row_number() OVER (ORDER BY a, b) AS rn, a, b FROM ({todo})) TO '{todo_file}' "
                    "(FORMAT parquet)"
                )
                con.execute(f"COPY (SELECT id, filename FROM locs) TO '{locs_file}' (FORMAT parquet)")
                size = verify_block_size(n_todo, config.verify_block_pairs, verify_blocks)
                jobs = [
                    VerifyJob(str(root), str(todo_file), str(locs_file), start, min(start + size, n_todo), config,
                              run_id, str(run_dir(root, "dup_pairs", run_id) / shard_name(attempt, k)))
                    for k, start in enumerate(range(0, n_todo, size))
                ]  # fmt: skip
                found = map_verify(jobs, n_todo) if jobs else []
                return [Pair(a, b, "minhash", sim, True) for block in found for a, b, sim in block]

        result = deduplicate(
            con,
            "sig",
            "priority",
            config,
            texts=_texts_fn(con),
            signatures=_signatures_fn(con, root, sig_config) if config.verify == "minhash" else None,
            known=known,
            sink=sink,
            semantic=semantic,
            progress=progress,
            bands_mapper=bands_mapper,
            verify_mapper=verify_mapper,
        )
        rows = [r.as_row(run_id, target) for r in result.dups]
        write_run_rows(root, "dups", run_id, rows, summary=json.dumps(result.by_method))
        return result, n_docs
    finally:
        con.close()
        shutil.rmtree(tmp, ignore_errors=True)
