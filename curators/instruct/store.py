"""The instruct stages' warehouse reads and writes: the instructions of a run, the usable instructions, the
passages grounded instructions come from, the responses to rate, the ratings to pair, and the pairs of a
preferences run (written once per run, read back on resume)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from curators.errors import NothingToDo
from warehouse.catalog import query
from warehouse.listings import table_shards
from warehouse.shards import read_run_rows, write_run_rows


def digest(rows: list[Any]) -> str:
    """A short fingerprint of what a run reads: a new input set is a new run."""
    return hashlib.sha256(json.dumps(rows, sort_keys=True, default=str).encode()).hexdigest()[:16]


def instructions_of_run(root: Path, run_id: str) -> list[dict[str, Any]]:
    """Every instruction row a run has written (done shards), by id."""
    rows: list[dict[str, Any]] = []
    for path in table_shards(root, "instructions", run_id):
        rows.extend(pq.read_table(path, columns=["id", "round", "text", "status", "seed_id"]).to_pylist())
    return sorted(rows, key=lambda r: r["id"])


def usable_instructions(root: Path, method: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """Usable instructions (ok, not a near-duplicate, not contaminated): id, method, seed_id, text; by id."""
    sql = "SELECT id, method, seed_id, text FROM instruction_pool WHERE usable"
    params: list[Any] = []
    if method:
        sql += " AND method = ?"
        params.append(method)
    sql += " ORDER BY id" + (" LIMIT ?" if limit else "")
    if limit:
        params.append(limit)
    columns, rows = query(root, sql, params)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def passages(root: Path, source: str, n: int, min_score: float | None) -> list[dict[str, Any]]:
    """Passages for grounded instructions: curated documents (highest score first, then id) or ok textbooks."""
    if source == "textbooks":
        sql = "SELECT id, text FROM synthetic WHERE task = 'textbook' AND usable ORDER BY id LIMIT ?"
        params: list[Any] = [n]
    else:
        sql = "SELECT id, text FROM curated" + (" WHERE score >= ?" if min_score is not None else "")
        sql += " ORDER BY score DESC NULLS LAST, id LIMIT ?"
        params = ([min_score] if min_score is not None else []) + [n]
    _, rows = query(root, sql, params)
    found = [{"id": r[0], "text": r[1]} for r in rows if r[1] and r[1].strip()]
    if not found:
        hint = "run `curate synth textbooks`" if source == "textbooks" else "run `curate ingest` (and the filter)"
        raise NothingToDo(f"no {source} passages to ground instructions in", hint=hint)
    return found


def texts_by_id(root: Path, ids: list[str]) -> dict[str, str]:
    """The texts of documents or generations by id (the context of grounded instructions)."""
    if not ids:
        return {}
    _, rows = query(
        root,
        "SELECT id, text FROM docs WHERE id IN (SELECT unnest(?)) "
        "UNION ALL SELECT id, text FROM generations WHERE id IN (SELECT unnest(?)) AND status = 'ok'",
        [ids, ids],
    )
    return {r[0]: r[1] for r in rows}


def responses_to_rate(root: Path) -> list[dict[str, Any]]:
    """Ok, uncontaminated responses of usable instructions, with the instruction's text; by response id."""
    columns, rows = query(
        root,
        """
        SELECT r.id, r.instruction_id, i.text AS instruction, r.text
        FROM responses r JOIN instruction_pool i ON i.id = r.instruction_id
        WHERE i.usable AND r.status = 'ok' AND NOT r.contaminated ORDER BY r.id
        """,
    )
    return [dict(zip(columns, r, strict=True)) for r in rows]


def response_outcomes(root: Path) -> dict[str, int]:
    """Responses by outcome: their status, or `contaminated` / `instruction not usable` for ok ones left out."""
    _, rows = query(
        root,
        """
        SELECT CASE WHEN r.status <> 'ok' THEN r.status WHEN r.contaminated THEN 'contaminated'
                    ELSE 'instruction not usable' END AS outcome, count(*)
        FROM responses r LEFT JOIN instruction_pool i ON i.id = r.instruction_id
        WHERE NOT (r.status = 'ok' AND NOT r.contaminated AND coalesce(i.usable, false))
        GROUP BY 1 ORDER BY 2 DESC, 1
        """,
    )
    return dict(rows)


def ratings_to_pair(root: Path, judge: str) -> list[dict[str, Any]]:
    """The ok ratings by `judge` of rateable responses: instruction_id, response_id, overall; ordered."""
    columns, rows = query(
        root,
        """
        SELECT g.instruction_id, g.response_id, g.overall
        FROM ratings g JOIN responses r ON r.id = g.response_id JOIN instruction_pool i ON i.id = g.instruction_id
        WHERE g.status = 'ok' AND g.judge = ? AND i.usable AND r.status = 'ok' AND NOT r.contaminated
        ORDER BY g.instruction_id, g.response_id
        """,
        [judge],
    )
    return [dict(zip(columns, r, strict=True)) for r in rows]


def response_texts(root: Path, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    _, rows = query(root, "SELECT id, text FROM responses WHERE id IN (SELECT unnest(?))", [ids])
    return {r[0]: r[1] for r in rows}


def instruction_texts(root: Path, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    _, rows = query(root, "SELECT id, text FROM instructions WHERE id IN (SELECT unnest(?))", [ids])
    return {r[0]: r[1] for r in rows}


def stored_pairs(root: Path, run_id: str) -> list[dict[str, Any]] | None:
    return read_run_rows(root, "preference_pairs", run_id)


def store_pairs(root: Path, run_id: str, rows: list[dict[str, Any]]) -> None:
    write_run_rows(root, "preference_pairs", run_id, rows)


def instruction_diversity(root: Path, diversity: Any) -> list[dict[str, Any]]:
    """Per method, the diversity metrics of its usable instructions (`method` and the metrics of
    `curators.synth.diversity.diversity_metrics`, without embeddings)."""
    from curators.synth.diversity import GenerationItem, diversity_metrics

    out = []
    _, methods = query(root, "SELECT DISTINCT method FROM instruction_pool WHERE usable ORDER BY 1")
    for (method,) in methods:
        _, texts = query(
            root, "SELECT id, text FROM instruction_pool WHERE usable AND method = ? ORDER BY id", [method]
        )
        out.append({"method": method, **diversity_metrics([GenerationItem(id=i, text=t) for i, t in texts], diversity)})
    return out


def report(root: Path, diversity: Any) -> str:
    """The instruction and preference sections of `curate synth report`, as text: instructions per method and
    status with their diversity, responses, the judge's parse rate, pairs with the position-flip rate."""
    lines = ["instructions by method and status:"]
    _, rows = query(
        root,
        "SELECT method, status, count(*), sum(cost_usd) FROM instructions GROUP BY 1, 2 ORDER BY 1, 3 DESC",
    )
    lines += [f"  {m:<14} {s:<16} {n:>6}  ${c or 0:.4f}" for m, s, n, c in rows]
    _, usable = query(
        root,
        "SELECT method, count(*), count(*) FILTER (WHERE is_dup), count(*) FILTER (WHERE contaminated), "
        "count(*) FILTER (WHERE usable) FROM instruction_pool WHERE status = 'ok' GROUP BY 1 ORDER BY 1",
    )
    lines += ["", "ok instructions: near-duplicates, contaminated, usable; diversity of the usable ones:"]
    header = ("method", "ok", "dups", "cont.", "usable", "d-1", "d-2", "d-3")
    lines.append("  " + f"{header[0]:<14} " + " ".join(f"{h:>6}" for h in header[1:]) + "  top opening")
    by_method = {m["method"]: m for m in instruction_diversity(root, diversity)}
    for method, ok, dups, contaminated, n_usable in usable:
        m = by_method.get(method, {})
        top = f"{m['top1_opening_share']:.2f} {m['top1_opening']!r}" if m.get("top1_opening") else "-"
        d = [m.get(f"distinct_{k}") for k in (1, 2, 3)]
        cells = " ".join(f"{v:>6.3f}" if v is not None else f"{'-':>6}" for v in d)
        lines.append(f"  {method:<14} {ok:>6} {dups:>6} {contaminated:>6} {n_usable:>6} {cells}  {top}")
    _, resp = query(root, "SELECT principle, status, count(*) FROM responses GROUP BY 1, 2 ORDER BY 1, 2")
    if resp:
        lines += ["", "responses by principle and status:"] + [f"  {p:<24} {s:<10} {n:>6}" for p, s, n in resp]
    _, rated = query(
        root,
        "SELECT judge, count(*), count(*) FILTER (WHERE status = 'ok'), avg(overall) FROM ratings GROUP BY 1",
    )
    for judge, n, ok, mean in rated:
        lines += ["", f"judge {judge}: {ok}/{n} ratings valid ({ok / n:.1%}), mean overall {mean or 0:.2f}"]
    _, pairs = query(root, "SELECT status, count(*) FROM preferences GROUP BY 1 ORDER BY 2 DESC")
    if pairs:
        counts = dict(pairs)
        asked = sum(v for k, v in counts.items() if k in ("ok", "flipped", "contradicted"))
        _, flips = query(
            root, "SELECT count(*) FILTER (WHERE NOT swap_consistent), count(swap_consistent) FROM preferences"
        )
        flipped, confirmed = flips[0]
        lines += ["", "preference pairs by status: " + ", ".join(f"{k} {v}" for k, v in pairs)]
        if confirmed:
            lines.append(
                f"  position-flip rate {flipped}/{confirmed} = {flipped / confirmed:.1%} of pairs asked in both orders"
            )
        rated_instructions = sum(counts.values())
        lines.append(f"  ties {counts.get('tie', 0)}/{rated_instructions} rated instructions; judged pairs {asked}")
    _, shapes = query(root, "SELECT (SELECT count(*) FROM sft), (SELECT count(*) FROM dpo)")
    lines += [
        "",
        f"sft rows {shapes[0][0]:,} · dpo pairs {shapes[0][1]:,} (curate export FOLDER --config sft --config dpo)",
    ]
    return "\n".join(lines) + "\n"
