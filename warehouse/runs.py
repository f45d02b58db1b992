"""Run manifests: one row per run in the `runs` table (flow, config, versions, start/end, status, counts).

A run's manifest is a single shard, rewritten atomically when the run starts, resumes and ends.
A run is named `<UTC time>-<flow>-<config hash>`; rerunning the same flow with the same config
resumes the latest such run (its done shards are skipped) unless a fresh run is asked for.
"""

from __future__ import annotations

import io
import json
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from pydantic import BaseModel

from warehouse.ids import stable_hash
from warehouse.lock import writer_lock
from warehouse.schemas import RUNS
from warehouse.shards import done_shards, run_dir, shard_name, write_shard

TRACKED_PACKAGES = (
    "curators",
    "prefect",
    "duckdb",
    "pyarrow",
    "pydantic",
    "datasketch",
    "sentence-transformers",
    "scikit-learn",
    "openai",
)


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            version = _version(metadata.distribution(name))
        except metadata.PackageNotFoundError:
            continue
        if version:
            versions[name] = version
    return versions


def _version(dist: metadata.Distribution) -> str | None:
    """`metadata.version` of an installed package, read from the `Version:` header of its METADATA: the same
    value, without parsing the whole file with the email package (~0.1 s of every run's start)."""
    for line in (dist.read_text("METADATA") or dist.read_text("PKG-INFO") or "").splitlines():
        if not line:
            break  # the end of the headers
        if line.startswith("Version:"):
            return line.removeprefix("Version:").strip()
    return dist.version  # (a header spelled otherwise: the full parse)


@dataclass
class RunRecord:
    run_id: str
    flow: str
    config: str = "{}"
    config_hash: str = ""
    versions: str = "{}"
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished: datetime | None = None
    status: str = "running"
    counts: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    def as_row(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "flow": self.flow,
            "config": self.config,
            "config_hash": self.config_hash,
            "versions": self.versions,
            "started": self.started,
            "finished": self.finished,
            "status": self.status,
            "counts": json.dumps(self.counts, sort_keys=True),
            "error": self.error,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> RunRecord:
        return cls(
            run_id=row["run_id"],
            flow=row["flow"],
            config=row["config"] or "{}",
            config_hash=row["config_hash"] or "",
            versions=row["versions"] or "{}",
            started=row["started"],
            finished=row["finished"],
            status=row["status"] or "unknown",
            counts=json.loads(row["counts"] or "{}"),
            error=row["error"],
        )


def new_run_id(flow: str, config_hash: str, now: datetime | None = None) -> str:
    now = now or datetime.now(UTC)
    return f"{now:%Y%m%dT%H%M%S}-{flow}-{config_hash[:8]}"


def _utf8(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _utc_text(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def write_run(root: Path, record: RunRecord) -> None:
    # Built by Arrow's JSON reader, not `pa.Table.from_pylist`: pyarrow imports pandas (~0.5 s) the first time it
    # converts Python objects, and every command that runs a flow writes a manifest, mostly with nothing else.
    row = record.as_row() | {"started": _utc_text(record.started), "finished": _utc_text(record.finished)}
    # An error may quote a file name that is not UTF-8 (a lone surrogate): kept, escaped, so the failure is recorded.
    row = {k: _utf8(v) if isinstance(v, str) else v for k, v in row.items()}
    options = pa_json.ParseOptions(explicit_schema=RUNS, unexpected_field_behavior="error")
    parsed = pa_json.read_json(io.BytesIO(json.dumps(row).encode()), parse_options=options)
    table = pa.Table.from_arrays(parsed.columns, schema=RUNS)  # RUNS's nullability (`cast` imports pyarrow.compute)
    write_shard(run_dir(root, "runs", record.run_id) / shard_name(0, 0), table, table="runs")


def _manifest_rows(shard: Path) -> list[dict[str, Any]]:
    """A manifest shard's rows in the RUNS schema (a column an older shard lacks is None).

    Read with `ParquetFile` and the UTC timestamps converted here: `pq.read_table` imports pyarrow.dataset and
    `to_pylist` of a tz-aware column imports pandas, ~0.9 s that every command that opens a run paid; columns
    are cast only when their type differs (a cast imports pyarrow.compute, ~0.1 s)."""
    table = pq.ParquetFile(shard).read()
    columns = {}
    for f in RUNS:
        column = (
            table.column(f.name) if f.name in table.column_names else pa.chunked_array([pa.nulls(len(table), f.type)])
        )
        if pa.types.is_timestamp(f.type):
            if column.type == f.type:  # the same values read as naive (UTC): a view, without pyarrow.compute
                naive = [t for chunk in column.chunks for t in chunk.view(pa.timestamp("us")).to_pylist()]
            else:
                naive = column.cast(pa.timestamp("us")).to_pylist()
            columns[f.name] = [None if t is None else t.replace(tzinfo=UTC) for t in naive]
        else:
            columns[f.name] = (column if column.type == f.type else column.cast(f.type)).to_pylist()
    return [dict(zip(columns, values, strict=True)) for values in zip(*columns.values(), strict=True)]


def read_runs(root: Path) -> list[RunRecord]:
    """All run manifests, oldest first."""
    records = []
    for shard, _marker in done_shards(root, "runs"):
        for row in _manifest_rows(shard):
            records.append(RunRecord.from_row(row))
    return sorted(records, key=lambda r: r.run_id)


def find_resumable(root: Path, flow: str, config_hash: str) -> RunRecord | None:
    """The latest run of `flow` with the same config, if any: rerunning continues it."""
    matches = [r for r in read_runs(root) if r.flow == flow and r.config_hash == config_hash]
    return matches[-1] if matches else None


@contextmanager
def open_run(
    root: Path,
    flow: str,
    config: BaseModel,
    fresh: bool = False,
    wait: float | None = None,
) -> Iterator[RunRecord]:
    """Hold the writer lock for a run of `flow`, with its manifest written at start and end.

    The same flow with the same config resumes its latest run (so done shards are skipped), unless
    `fresh`. The caller may set `status`, `counts` and `error` on the record; on an exception the run
    is recorded as failed (or interrupted) and the exception propagates. Views are refreshed at the
    end either way, so whatever was finished is queryable.
    """
    from warehouse.catalog import refresh_views

    root = Path(root)
    with writer_lock(root, wait=wait, command=f"curate {flow}"):
        config_json = json.dumps(config.model_dump(mode="json"), sort_keys=True)
        config_hash = stable_hash(config)
        record = None if fresh else find_resumable(root, flow, config_hash)
        if record is None:
            record = RunRecord(
                run_id=new_run_id(flow, config_hash),
                flow=flow,
                config=config_json,
                config_hash=config_hash,
                versions=json.dumps(package_versions()),
            )
        else:
            record.status, record.finished, record.error = "running", None, None
            record.versions = json.dumps(package_versions())
        write_run(root, record)
        try:
            yield record
        except BaseException as exc:
            record.status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
            record.error = f"{type(exc).__name__}: {exc}"[:4000]
            raise
        else:
            if record.status == "running":
                record.status = "finished"
        finally:
            record.finished = datetime.now(UTC)
            write_run(root, record)
            refresh_views(root)
