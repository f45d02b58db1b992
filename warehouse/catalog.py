"""The DuckDB catalog: `<root>/warehouse.duckdb` holds views over the done shards, nothing else.

The Parquet shards are the data; the DuckDB file is derived from them and can be rebuilt at any time
(`refresh_views`). Each table gets a view `<table>_all` over every done shard of every run; the
ingest tables also get "current" views (`docs`, `rejects`): for each source, the rows of the run
that ingested it last. A view lists its shard files explicitly, so a shard without a done-marker is
never read.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from warehouse.errors import CurateError
from warehouse.schemas import QUALITY_RULES, TABLES
from warehouse.shards import done_shards, write_parquet_atomic

DB_FILE = "warehouse.duckdb"

# Views built on the `<table>_all` views. Order matters: later views use earlier ones.
DERIVED_VIEWS: dict[str, str] = {
    "runs": "SELECT * FROM runs_all",
    # For each source, the ingest run that touched it last (runs are resumable, so "last" is by
    # the time the run finished, not by its name).
    "ingest_versions": """
        SELECT v.source,
               arg_max(v.run_id, coalesce(r.finished, r.started, TIMESTAMPTZ '1970-01-01 00:00:00+00'))
                   AS run_id
        FROM (SELECT DISTINCT source, run_id FROM docs_all
              UNION SELECT DISTINCT source, run_id FROM rejects_all) v
        LEFT JOIN runs_all r USING (run_id)
        GROUP BY v.source
    """,
    "docs": "SELECT d.* FROM docs_all d SEMI JOIN ingest_versions v USING (source, run_id)",
    "rejects": "SELECT j.* FROM rejects_all j SEMI JOIN ingest_versions v USING (source, run_id)",
    # The latest label of each (document, prompt, model).
    "labels": """
        SELECT * EXCLUDE (r_) FROM (
            SELECT l.*, row_number() OVER (PARTITION BY l.id, l.prompt_id, l.model ORDER BY l.run_id DESC) AS r_
            FROM labels_all l) WHERE r_ = 1
    """,
    "label_sample": "SELECT * FROM label_sample_all",
    "embeddings": "SELECT * FROM embeddings_all",
    "filters": "SELECT * FROM filters_all",
    # Scores of the newest filter that scored anything; `curated` = current documents it keeps.
    "scores": """
        SELECT s.* FROM scores_all s
        WHERE s.filter_id = (SELECT f.filter_id FROM filters_all f SEMI JOIN scores_all x USING (filter_id)
                             ORDER BY f.created DESC LIMIT 1)
        QUALIFY row_number() OVER (PARTITION BY s.id ORDER BY s.run_id DESC) = 1
    """,
    "minhash": """
        SELECT * FROM minhash_all QUALIFY row_number() OVER (PARTITION BY id, sig_config ORDER BY run_id DESC) = 1
    """,
    "dup_pairs": "SELECT * FROM dup_pairs_all",
    # The duplicates found by the latest finished dedup run of each target (docs, generations).
    "dups": """
        SELECT d.* FROM dups_all d SEMI JOIN (
            SELECT json_extract_string(config, '$.target') AS target,
                   arg_max(run_id, coalesce(finished, started)) AS run_id
            FROM runs_all WHERE flow = 'dedup' AND status = 'finished' GROUP BY 1) latest
        USING (target, run_id)
    """,
    # The benchmark items found by the latest finished decontam run of each target (docs, generations);
    # rows written before the `target` column existed are generations.
    "contamination": """
        SELECT c.* REPLACE (coalesce(c.target, 'generations') AS target) FROM contamination_all c SEMI JOIN (
            SELECT arg_max(run_id, coalesce(finished, started)) AS run_id
            FROM runs_all WHERE flow = 'decontam' AND status = 'finished'
            GROUP BY coalesce(json_extract_string(config, '$.target'), 'generations')) latest
        USING (run_id)
    """,
    # The rules' verdicts and the language of each document, from the latest finished quality run.
    "quality": """
        SELECT q.* FROM quality_all q SEMI JOIN (
            SELECT arg_max(run_id, coalesce(finished, started)) AS run_id
            FROM runs_all WHERE flow = 'quality' AND status = 'finished') latest USING (run_id)
    """,
    # Current documents that passed every stage that ran; a stage that never ran drops nothing. Once a filter
    # scored anything, a document needs a score that keeps it (`dropped` names the unscored). Less the
    # duplicates (each in `dups`) and the documents holding a benchmark item (each in `contamination`).
    "curated": """
        SELECT d.*, s.score, s.proba FROM docs d LEFT JOIN scores s USING (id) LEFT JOIN quality q USING (id)
        WHERE (s.keep OR (s.id IS NULL AND NOT EXISTS (SELECT 1 FROM scores)))
          AND ((q.passed AND q.lang_ok) OR (q.id IS NULL AND NOT EXISTS (SELECT 1 FROM quality)))
          AND d.id NOT IN (SELECT id FROM dups WHERE target = 'docs')
          AND d.id NOT IN (SELECT id FROM contamination WHERE target = 'docs')
    """,
    "doc_tokens": "SELECT tokenizer, text_hash, any_value(tokens) AS tokens FROM doc_tokens_all GROUP BY ALL",
    # Every current document that is not in `curated`, once per reason: why was this document dropped?
    "dropped": """
        SELECT d.id, d.source, d.locator, 'duplicate' AS reason,
               x.method || ' duplicate of ' || x.dup_of || ' (similarity ' || round(x.similarity, 3) || ')' AS detail
        FROM docs d JOIN dups x ON x.id = d.id AND x.target = 'docs'
        UNION ALL
        SELECT d.id, d.source, d.locator, 'contaminated',
               string_agg(c.benchmark || ' item ' || c.item_id, ', ' ORDER BY c.benchmark, c.item_id)
        FROM docs d JOIN contamination c ON c.id = d.id AND c.target = 'docs' GROUP BY d.id, d.source, d.locator
        UNION ALL
        SELECT d.id, d.source, d.locator, 'below_threshold',
               'score ' || round(s.score, 2) || ' of filter ' || s.filter_id
        FROM docs d JOIN scores s USING (id) WHERE NOT s.keep
        UNION ALL
        SELECT d.id, d.source, d.locator, 'not_scored', 'a filter exists but has not scored it: run `curate score`'
        FROM docs d WHERE EXISTS (SELECT 1 FROM scores) AND d.id NOT IN (SELECT id FROM scores)
        UNION ALL
        SELECT d.id, d.source, d.locator, 'heuristics', {rule_reasons}
        FROM docs d JOIN quality q USING (id) WHERE NOT q.passed
        UNION ALL
        SELECT d.id, d.source, d.locator, 'language',
               'language ' || q.lang || ' (' || round(q.lang_score, 2) || ') is not kept for ' || d.source
                   || ' (its languages, at quality.min_lang_score)'
        FROM docs d JOIN quality q USING (id) WHERE NOT q.lang_ok
        UNION ALL
        SELECT d.id, d.source, d.locator, 'not_checked', 'the quality rules have not checked it: run `curate quality`'
        FROM docs d WHERE EXISTS (SELECT 1 FROM quality) AND d.id NOT IN (SELECT id FROM quality)
    """.replace(
        "{rule_reasons}",
        # each failed rule with its reason: "c4_lorem_ipsum: ...; gopher_words: ..."
        "concat_ws('; ', "
        + ", ".join(f"CASE WHEN NOT q.{r}.passed THEN '{r}: ' || q.{r}.reason END" for r in QUALITY_RULES)
        + ")",
    ),
    "seeds": "SELECT * FROM seeds_all QUALIFY row_number() OVER (PARTITION BY seed_id ORDER BY run_id DESC) = 1",
    "generations": """
        SELECT * FROM generations_all QUALIFY row_number() OVER (PARTITION BY id ORDER BY run_id DESC) = 1
    """,
    # One row per generation with its gates: seed axes, duplicate, contamination, score, and `usable`.
    "synthetic": """
        SELECT g.id, g.task, g.status, g.reason, g.seed_id, g.parent_id, s.kind AS seed_kind, s.subject, s.topic,
               s.subtopic, s.audience, s.style, s.persona, g.text, g.n_chars, g.model, g.prompt_id,
               g.tokens_in, g.tokens_out, g.cost_usd, g.stripped_opening,
               d.id IS NOT NULL AS is_dup, d.dup_of, d.method AS dup_method, d.similarity AS dup_similarity,
               c.benchmarks IS NOT NULL AS contaminated, c.benchmarks,
               sc.score, sc.keep,
               g.status = 'ok' AND d.id IS NULL AND c.benchmarks IS NULL AND coalesce(sc.keep, true) AS usable
        FROM generations g
        LEFT JOIN seeds s USING (seed_id)
        LEFT JOIN (SELECT * FROM dups WHERE target = 'generations') d ON d.id = g.id
        LEFT JOIN (SELECT id, string_agg(DISTINCT benchmark, ',' ORDER BY benchmark) AS benchmarks
                   FROM contamination WHERE target = 'generations' GROUP BY id) c ON c.id = g.id
        LEFT JOIN scores sc ON sc.id = g.id
    """,
    # Instruction and preference data (curators/instruct): the latest row of each id.
    "instructions": """
        SELECT * FROM instructions_all QUALIFY row_number() OVER (PARTITION BY id ORDER BY run_id DESC) = 1
    """,
    # One row per instruction with its gates: near-duplicate, contamination, and `usable`.
    "instruction_pool": """
        SELECT i.*, d.id IS NOT NULL AS is_dup, d.dup_of, c.benchmarks IS NOT NULL AS contaminated, c.benchmarks,
               i.status = 'ok' AND d.id IS NULL AND c.benchmarks IS NULL AS usable
        FROM instructions i
        LEFT JOIN (SELECT * FROM dups WHERE target = 'instructions') d ON d.id = i.id
        LEFT JOIN (SELECT id, string_agg(DISTINCT benchmark, ',' ORDER BY benchmark) AS benchmarks
                   FROM contamination WHERE target = 'instructions' GROUP BY id) c ON c.id = i.id
    """,
    "responses": """
        SELECT r.*, c.benchmarks IS NOT NULL AS contaminated, c.benchmarks
        FROM (SELECT * FROM responses_all QUALIFY row_number() OVER (PARTITION BY id ORDER BY run_id DESC) = 1) r
        LEFT JOIN (SELECT id, string_agg(DISTINCT benchmark, ',' ORDER BY benchmark) AS benchmarks
                   FROM contamination WHERE target = 'responses' GROUP BY id) c ON c.id = r.id
    """,
    "ratings": """
        SELECT * FROM ratings_all
        QUALIFY row_number() OVER (PARTITION BY response_id, judge ORDER BY run_id DESC) = 1
    """,
    "preference_pairs": "SELECT * FROM preference_pairs_all",
    "pair_votes": "SELECT * FROM pair_votes_all",
    # The pairs of the latest finished preferences run, with their confirmation in both orders.
    "preferences": """
        SELECT p.pair_id, p.instruction_id, p.chosen_id, p.rejected_id, p.chosen_rating, p.rejected_rating,
               p.margin, p.judge, p.responses_rated, v.chosen_first, v.rejected_first, v.swap_consistent, v.agrees,
               CASE WHEN p.status <> 'candidate' THEN p.status WHEN v.pair_id IS NULL THEN 'unconfirmed'
                    ELSE v.status END AS status,
               CASE WHEN p.status <> 'candidate' THEN p.reason WHEN v.pair_id IS NULL
                    THEN 'not yet confirmed in both orders: rerun `curate synth preferences`' ELSE v.reason END
                   AS reason,
               p.run_id
        FROM preference_pairs_all p
        SEMI JOIN (SELECT arg_max(run_id, coalesce(finished, started)) AS run_id FROM runs_all
                   WHERE flow = 'instruct-preferences' AND status = 'finished') latest USING (run_id)
        LEFT JOIN pair_votes_all v USING (pair_id, run_id)
    """,
    # TRL's conversational SFT shape: the best-rated usable response of each usable instruction.
    "sft": """
        SELECT [{'role': 'user', 'content': i.text}, {'role': 'assistant', 'content': r.text}] AS messages,
               i.id AS instruction_id, r.id AS response_id, i.method, r.model, g.judge, g.overall AS rating,
               r.run_id
        FROM instruction_pool i
        JOIN responses r ON r.instruction_id = i.id AND r.status = 'ok' AND NOT r.contaminated
        JOIN ratings g ON g.response_id = r.id AND g.status = 'ok'
        WHERE i.usable
        QUALIFY row_number() OVER (PARTITION BY i.id ORDER BY g.overall DESC, r.id) = 1
    """,
    # Usable textbooks and exercises as single-turn conversations (`export.sft_synthetic`): a textbook is asked
    # for by its seed's topic and audience; an exercise is its question (with the signature to implement).
    "sft_synthetic": """
        SELECT [{'role': 'user', 'content':
                    CASE WHEN y.task = 'exercise' THEN json_extract_string(g.meta, '$.question')
                         || coalesce(nullif(E'\n\n' || json_extract_string(g.meta, '$.signature'), E'\n\n'), '')
                    ELSE 'Write a textbook section on ' || coalesce(y.subtopic, y.topic, 'its topic')
                         || coalesce(' for ' || replace(y.audience, '_', ' '), '') || '.' END},
                {'role': 'assistant', 'content':
                    CASE WHEN y.task = 'exercise' THEN json_extract_string(g.meta, '$.solution') ELSE g.text END}]
                   AS messages,
               g.id AS instruction_id, g.id AS response_id, y.task AS method, g.model, NULL::VARCHAR AS judge,
               y.score::FLOAT AS rating, g.run_id
        FROM synthetic y JOIN generations g USING (id) WHERE y.usable
    """,
    # TRL's conversational DPO shape: confirmed pairs whose texts are usable.
    "dpo": """
        SELECT [{'role': 'user', 'content': i.text}] AS prompt,
               [{'role': 'assistant', 'content': c.text}] AS chosen,
               [{'role': 'assistant', 'content': r.text}] AS rejected,
               p.instruction_id AS prompt_id, p.pair_id, i.method, p.chosen_rating, p.rejected_rating, p.margin,
               p.judge, p.swap_consistent, c.model AS chosen_model, r.model AS rejected_model, p.run_id
        FROM preferences p
        JOIN instruction_pool i ON i.id = p.instruction_id AND i.usable
        JOIN responses c ON c.id = p.chosen_id AND c.status = 'ok' AND NOT c.contaminated
        JOIN responses r ON r.id = p.rejected_id AND r.status = 'ok' AND NOT r.contaminated
        WHERE p.status = 'ok'
    """,
}


def db_path(root: Path) -> Path:
    return Path(root) / DB_FILE


def _empty_schema_file(root: Path, table: str, schema: pa.Schema) -> Path:
    """A zero-row Parquet file with the table's schema, so an empty table still has typed columns. Named by a
    hash of the schema: a changed schema is a new file (and so a new view statement); an existing one is not
    read again."""
    folder = Path(root) / "tables" / "_schemas"
    digest = hashlib.sha256(schema.serialize().to_pybytes()).hexdigest()[:12]
    path = folder / f"{table}-{digest}.parquet"
    if not path.exists():
        # (`from_batches([])`, not `schema.empty_table()`: the same table, without importing pandas, ~0.3 s)
        write_parquet_atomic(path, pa.Table.from_batches([], schema))
        for old in folder.glob(f"{table}*.parquet"):  # an earlier schema's file (or the unhashed name)
            if old != path and old.name.removeprefix(table)[:1] in ("-", "."):
                old.unlink(missing_ok=True)
    return path


def sql_list(paths: list[Path] | list[str]) -> str:
    """A DuckDB list literal of absolute paths, quoted."""
    return "[" + ", ".join("'" + str(Path(p).resolve()).replace("'", "''") + "'" for p in paths) + "]"


def require_warehouse(root: Path) -> None:
    """Raise the error that says there is no warehouse at `root` (no catalog there yet)."""
    if not db_path(root).exists():
        raise CurateError(
            f"no warehouse at {Path(root).resolve()}",
            hint="run `curate run` or `curate ingest PATH` first, or point --data-root / CURATE_DATA at one",
        )


def connect(root: Path, read_only: bool = True, timeout: float = 10.0) -> duckdb.DuckDBPyConnection:
    """Open the catalog. Retries while another process holds DuckDB's own file lock (briefly)."""
    path = db_path(root)
    if read_only:
        require_warehouse(root)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() >= deadline:
                raise CurateError(
                    f"cannot open {path}: {exc}",
                    hint="another program has the DuckDB file open for writing; close it and retry",
                ) from exc
            time.sleep(0.1)


LLM_RESPONSE_COLUMNS = {
    "key": "VARCHAR",
    "item_id": "VARCHAR",
    "status": "VARCHAR",
    "raw": "VARCHAR",
    "error": "VARCHAR",
    "model": "VARCHAR",
    "prompt_id": "VARCHAR",
    "attempts": "BIGINT",
    "reasks": "BIGINT",
    "tokens_in": "BIGINT",
    "tokens_out": "BIGINT",
    "cost_usd": "DOUBLE",
    "finish_reason": "VARCHAR",
    "created": "VARCHAR",
}


def _llm_responses_sql(root: Path) -> str:
    """The response cache's journals (curators.llm.cache), as a table; a torn last line is skipped."""
    journals = sorted((Path(root) / "llm_cache").glob("*.jsonl"))
    if not journals:
        return "SELECT " + ", ".join(f"NULL::{t} AS {c}" for c, t in LLM_RESPONSE_COLUMNS.items()) + " WHERE false"
    columns = "{" + ", ".join(f"'{c}': '{t}'" for c, t in LLM_RESPONSE_COLUMNS.items()) + "}"
    return (
        f"SELECT * FROM read_json({sql_list(journals)}, format = 'newline_delimited', "
        f"columns = {columns}, ignore_errors = true)"
    )


# name -> the statement that made each view, kept in the catalog (a schema of its own: not in SHOW TABLES).
VIEWS_TABLE = "_curators.views"


def _columns(con: duckdb.DuckDBPyConnection, view: str) -> list[tuple[str, str]]:
    return con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ? "
        "ORDER BY column_index",
        [view],
    ).fetchall()


def refresh_views(root: Path) -> dict[str, int]:
    """(Re)create every view from the done shards. Returns the number of shards per table.

    A view whose statement is the one that made it last time (the same shard files, the same SQL) is left as it
    is: DuckDB reads the schema of every file of a view when it is made, which a run that wrote one table should
    not pay for all of them. When a table view's columns change (a new version's schema), every derived view is
    made again too: DuckDB keeps a view's column types and refuses to read it once they differ."""
    shard_counts: dict[str, int] = {}
    tables: dict[str, str] = {}
    for table, schema in TABLES.items():
        shards = [path for path, _ in done_shards(root, table)]
        shard_counts[table] = len(shards)
        # The zero-row file of the current schema comes too: with `union_by_name`, a column added since older
        # shards were written is still there (NULL in their rows), and an empty table still has its columns.
        files = [_empty_schema_file(root, table, schema), *shards]
        tables[f"{table}_all"] = (
            f"CREATE OR REPLACE VIEW {table}_all AS SELECT * FROM read_parquet({sql_list(files)}, union_by_name = true)"
        )
    derived = {view: f"CREATE OR REPLACE VIEW {view} AS {sql}" for view, sql in DERIVED_VIEWS.items()}
    derived["llm_responses"] = f"CREATE OR REPLACE VIEW llm_responses AS {_llm_responses_sql(root)}"
    with connect(root, read_only=False) as con:
        con.execute("BEGIN TRANSACTION")
        con.execute("CREATE SCHEMA IF NOT EXISTS _curators")
        con.execute(f"CREATE TABLE IF NOT EXISTS {VIEWS_TABLE} (name VARCHAR PRIMARY KEY, statement VARCHAR)")
        made = dict(con.execute(f"SELECT name, statement FROM {VIEWS_TABLE}").fetchall())
        views = {
            name
            for (name,) in con.execute("SELECT view_name FROM duckdb_views() WHERE schema_name = 'main'").fetchall()
        }

        def make(name: str, statement: str) -> None:
            con.execute(statement)
            con.execute(f"INSERT OR REPLACE INTO {VIEWS_TABLE} VALUES (?, ?)", [name, statement])

        columns_changed = False
        for name, statement in tables.items():
            if made.get(name) != statement or name not in views:
                before = _columns(con, name)
                make(name, statement)
                columns_changed = columns_changed or _columns(con, name) != before
        for name, statement in derived.items():
            if columns_changed or made.get(name) != statement or name not in views:
                make(name, statement)
        con.execute("COMMIT")
    return shard_counts


def query(root: Path, sql: str, params: list[Any] | None = None) -> tuple[list[str], list[tuple]]:
    """Run read-only SQL against the catalog; returns (column names, rows)."""
    with connect(root, read_only=True) as con:
        try:
            cursor = con.execute(sql, params or [])
        except duckdb.Error as exc:
            raise CurateError(
                f"SQL error: {exc}",
                hint='`curate sql "SHOW TABLES"` lists the tables; `DESCRIBE docs` shows columns',
            ) from None
        if cursor.description is None:
            return [], []
        columns = [d[0] for d in cursor.description]
        return columns, cursor.fetchall()


@contextmanager
def reading(root: Path, sql: str, batch_rows: int = 2048) -> Iterator[pa.RecordBatchReader]:
    """Run read-only SQL and read its result as Arrow record batches of at most `batch_rows` rows (the
    reader's schema is known before the first batch): a result larger than memory is never held whole."""
    with connect(root, read_only=True) as con:
        try:
            reader = con.sql(sql).to_arrow_reader(batch_rows)
        except duckdb.Error as exc:
            raise CurateError(f"SQL error: {exc}") from None
        yield reader
