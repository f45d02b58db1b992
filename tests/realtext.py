"""A labelled corpus of real text whose educational value is known by where it comes from:
explanatory docstrings of standard-library modules (4), generated codec tables (1), licence texts (0)."""

from __future__ import annotations

import ast
import json
import site
from pathlib import Path

import pyarrow as pa

from curators.config import IngestConfig, SourceSpec
from curators.ingest.plan import plan_units, stdlib_dir
from curators.ingest.store import ingest_unit
from warehouse.runs import open_run
from warehouse.schemas import LABELS
from warehouse.shards import run_dir, shard_name, write_shard

EXPLAINED_MODULES = [
    "textwrap",
    "heapq",
    "bisect",
    "fractions",
    "statistics",
    "difflib",
    "shlex",
    "string",
    "calendar",
    "random",
    "functools",
    "contextlib",
    "dataclasses",
    "enum",
    "abc",
    "argparse",
    "pathlib",
    "ipaddress",
    "decimal",
    "datetime",
    "json/__init__",
    "csv",
    "gettext",
    "locale",
    "pprint",
    "reprlib",
    "secrets",
    "selectors",
    "shutil",
    "tempfile",
    "threading",
    "timeit",
    "tokenize",
    "traceback",
    "typing",
    "uuid",
    "weakref",
    "zipfile",
    "graphlib",
    "operator",
    "copy",
    "glob",
    "fnmatch",
    "colorsys",
    "numbers",
    "queue",
    "sched",
    "inspect",
    "pickle",
    "base64",
]


MAX_LICENCES = 60


def docstrings(path: Path) -> str:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    parts = [ast.get_docstring(tree) or ""]
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.ClassDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc and len(doc) > 80:
                parts.append(f"{node.name}: {doc}")
    return "\n\n".join(p for p in parts if p)[:3000]


def real_documents() -> list[tuple[str, str, int]]:
    """(name, text, known score)."""
    docs = []
    for name in EXPLAINED_MODULES:
        text = docstrings(stdlib_dir() / f"{name}.py")
        if len(text) >= 400:
            docs.append((f"doc:{name}", text, 4))
    for path in sorted((stdlib_dir() / "encodings").glob("*.py")):
        table = path.read_text(encoding="utf-8")[1500:4500]
        if path.stem.startswith(("cp", "mac_", "iso8859_")) and len(table.strip()) >= 400:
            docs.append((f"table:{path.stem}", table, 1))
    seen = set()
    for folder in map(Path, site.getsitepackages()):
        for path in sorted(folder.glob("*.dist-info/LICENSE*")) + sorted(folder.glob("*.dist-info/licenses/*")):
            text = path.read_text(encoding="utf-8", errors="replace")[:3000] if path.is_file() else ""
            if len(text) >= 400 and text[:200] not in seen and len(seen) < MAX_LICENCES:
                seen.add(text[:200])
                docs.append((f"licence:{path.relative_to(folder)}", text, 0))
    return docs


def build_labelled_warehouse(root: Path, tmp: Path) -> list[tuple[str, str, int]]:
    """Ingest the documents and record their known scores as labels (labeller `rule:source`)."""
    docs = real_documents()
    source = tmp / "real.jsonl"
    source.write_text("".join(json.dumps({"name": n, "text": t}) + "\n" for n, t, _ in docs))
    config = IngestConfig(sources=[SourceSpec(path=str(source), name="real", id_field="name")], shard_rows=40)
    with open_run(root, "ingest", config) as run:
        for unit in plan_units(config).units:
            ingest_unit(unit, root, run.run_id, config)
    from curators.ingest.records import doc_id

    rows = [
        {
            "id": doc_id("real", name),
            "prompt_id": "rule@v1:00000000",
            "model": "rule:source",
            "score": score,
            "rationale": "known by source",
            "raw": None,
            "status": "ok",
            "error": None,
            "truncated": False,
            "chars_sent": len(text),
            "attempts": 0,
            "cached": False,
            "tokens_in": 0,
            "tokens_out": 0,
            "cost_usd": 0.0,
            "cache_key": None,
            "run_id": "rule-labels",
        }
        for name, text, score in docs
    ]
    write_shard(run_dir(root, "labels", "rule-labels") / shard_name(0, 0), pa.Table.from_pylist(rows, schema=LABELS))
    from warehouse.catalog import refresh_views

    refresh_views(root)
    return docs
