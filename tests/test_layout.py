"""Rules of the house that code review alone would miss."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(folder: Path) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for path in folder.rglob("*.py"):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_library_and_the_warehouse_never_import_prefect() -> None:
    for folder in ("curators", "warehouse"):
        offenders = [path for path, names in imported_modules(ROOT / folder).items() if "prefect" in names]
        assert offenders == [], f"{folder}/ must not import prefect: {offenders}"


def test_importing_every_library_module_leaves_prefect_unloaded() -> None:
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for folder in ("curators", "warehouse")
        for p in (ROOT / folder).rglob("*.py")
    )
    code = (
        "import importlib, sys\n"
        + "".join(f"importlib.import_module({m!r})\n" for m in modules)
        + "print(sorted(m for m in sys.modules if m.split('.')[0] == 'prefect'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


LAYERS = ("flows", "curators", "warehouse")  # each may import only the layers after it


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_import_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports, at the top or inside a function (relative imports resolved)."""
    paths = {_module_name(p): p for folder in LAYERS for p in (ROOT / folder).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(
                        package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else [])
                    )
                names = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for name in names:
                while name and name not in paths:
                    name = name.rpartition(".")[0]
                if name and name != module and not name.endswith("__init__"):
                    found.add(name)
        graph[module] = found - {m for m in found if paths[m].name == "__init__.py"}
    return graph


def test_layers_depend_one_way() -> None:
    """flows/ -> curators/ -> warehouse/, never upward (lazy imports inside functions included)."""
    upward = [
        f"{module} imports {target}"
        for module, targets in project_import_graph().items()
        for target in targets
        if LAYERS.index(target.split(".")[0]) < LAYERS.index(module.split(".")[0])
    ]
    assert upward == []


def test_no_import_cycle() -> None:
    graph = project_import_graph()
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        path.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(path[path.index(target) :] + [target])
            elif target not in state:
                visit(target)
        path.pop()
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module)
    assert cycles == [], " ; ".join(" -> ".join(c) for c in cycles)


def test_the_import_graph_sees_lazy_and_relative_imports() -> None:
    """The checks above would pass vacuously if the graph missed edges: pin a few known ones."""
    graph = project_import_graph()
    assert "warehouse.shards" in graph["warehouse.mapper"]
    assert "curators.llm.runner" in graph["curators.filter.label"]
    assert "flows.pipeline" in graph["flows.cli.pipeline"]  # imported inside the command


def test_no_module_is_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for folder in LAYERS
        for p in (ROOT / folder).rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert long == {}
