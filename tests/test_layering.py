"""Imports run one way: every import of ``rnnviz_lib`` (those inside functions included) goes to a
module of the same layer or a lower one (``LAYERS``, the order CONTRIBUTING.md writes down), and
no import cycle remains. A new module must be given a layer here."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "rnnviz_lib"

# Lowest first. A module may import modules of its own layer or of a lower one; never a higher one.
LAYERS = [
    ("base", ["rnnviz_lib", "errors", "paper", "rehearsal", "config", "report", "buildinfo"]),
    ("store", ["store"]),
    ("data and models", ["sources", "lk_corpus", "data", "models", "cpu_step", "evaluate", "ngram", "nnn"]),
    ("training", ["train", "fast", "baselines"]),
    ("grid", ["grid", "executors", "runs", "table1", "fast_executor", "ray_executor", "shipped"]),
    ("analysis", ["analysis", "analysis.*", "provenance", "explorer"]),
    ("presentation", ["plotting", "pipeline"]),
    ("interface", ["commands", "commands.*", "cli"]),
]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports_of(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Every ``rnnviz_lib`` module that ``source`` (module ``module``) imports, anywhere in it."""
    package = module if is_package else module.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.split(".")[0] == "rnnviz_lib"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "rnnviz_lib":
                continue
            for a in node.names:  # ``from rnnviz_lib import grid`` imports the module grid
                out.add(f"{target}.{a.name}" if f"{target}.{a.name}" in known else target)
    out.discard(module)
    return out


def import_graph(root: Path = PKG) -> dict[str, set[str]]:
    files = {module_name(p, root): p for p in root.rglob("*.py")}
    known = set(files)
    return {m: imports_of(p.read_text(), m, p.name == "__init__.py", known) for m, p in files.items()}


def layer_of(module: str) -> int:
    short = module.removeprefix("rnnviz_lib.") if module != "rnnviz_lib" else module
    for i, (_, names) in enumerate(LAYERS):
        for n in names:
            if short == n or (n.endswith(".*") and short.startswith(n[:-1])):
                return i
    raise KeyError(module)


def violations(graph: dict[str, set[str]]) -> list[str]:
    out = []
    for m, targets in sorted(graph.items()):
        for t in sorted(targets):
            if layer_of(t) > layer_of(m):
                out.append(f"{m} ({LAYERS[layer_of(m)][0]}) imports {t} ({LAYERS[layer_of(t)][0]})")
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph`` (one per strongly connected component of more than one module)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def test_every_module_has_a_layer():
    unplaced = []
    for m in import_graph():
        try:
            layer_of(m)
        except KeyError:
            unplaced.append(m)
    assert not unplaced, f"give these modules a layer in tests/test_layering.py and CONTRIBUTING.md: {unplaced}"


def test_imports_run_one_way_and_form_no_cycle():
    graph = import_graph()
    assert sum(len(t) for t in graph.values()) > 100  # the walk found the package's imports
    assert "rnnviz_lib.train" in graph["rnnviz_lib.grid"]  # a top-level import is seen
    assert "rnnviz_lib.runs" in graph["rnnviz_lib.analysis.errors"]  # and one inside a function
    assert violations(graph) == []
    assert cycles(graph) == []


def test_a_planted_upward_or_circular_import_is_caught(tmp_path):
    """The checks fail on what they must catch: a copy of the package with the store importing the
    grid (upward, lazily inside a function) and the grid importing the store (a cycle)."""
    pkg = tmp_path / "rnnviz_lib"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "store.py").write_text("def finished():\n    from rnnviz_lib import grid\n    return grid\n")
    (pkg / "grid.py").write_text("from rnnviz_lib.store import finished\n")
    graph = import_graph(pkg)
    assert violations(graph) == ["rnnviz_lib.store (store) imports rnnviz_lib.grid (grid)"]
    assert cycles(graph) == [["rnnviz_lib.grid", "rnnviz_lib.store"]]


@pytest.mark.parametrize("source, expected", [
    ("from . import grid", {"rnnviz_lib.grid"}),
    ("from ..store import Store", {"rnnviz_lib.store"}),
    ("import rnnviz_lib.train as t", {"rnnviz_lib.train"}),
    ("from rnnviz_lib.analysis import errors", {"rnnviz_lib.analysis.errors"}),
    ("import numpy", set()),
])
def test_relative_and_aliased_imports_are_resolved(source, expected):
    known = {"rnnviz_lib.grid", "rnnviz_lib.store", "rnnviz_lib.train", "rnnviz_lib.analysis.errors"}
    module = "rnnviz_lib.analysis.cells" if source.startswith("from ..") else "rnnviz_lib.x"
    assert imports_of(source, module, False, known) == expected
