"""The house rules of the Layout section (README): layers with no upward import, short modules and loops, and the
search spaces named only by their own modules."""
from __future__ import annotations

import ast
import importlib.util
import inspect
from pathlib import Path

import srnas
from srnas.registry import SPACE_SPECS

PACKAGE = Path(srnas.__file__).resolve().parent
REPO = PACKAGE.parent


def _import_graph():
    spec = importlib.util.spec_from_file_location("import_graph", REPO / "benchmarks" / "import_graph.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _edges(graph) -> set[tuple[str, str]]:
    edges = set()
    for path in PACKAGE.rglob("*.py"):
        name = graph.module_name(PACKAGE, path)
        pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        edges |= {(graph.area(name), graph.area(t)) for t in graph.imports(path, pkg)}
    return {(s, d) for s, d in edges if s != d and d != "srnas"}


def test_no_import_points_up_a_layer():
    graph = _import_graph()
    edges = _edges(graph)
    assert ("config", "search") not in edges and ("config", "archs") not in edges
    assert graph.upward(edges) == []
    areas = {a for e in edges for a in e}
    assert areas <= set(graph.LEVEL), f"areas in no layer of benchmarks/import_graph.py: {areas - set(graph.LEVEL)}"


def test_the_checker_sees_an_upward_arrow():
    graph = _import_graph()
    assert graph.upward({("config", "search"), ("search", "config")}) == [("config", "search")]


def test_no_module_over_400_lines_and_short_loops():
    long = {str(p.relative_to(REPO)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) > 400}
    assert not long
    from srnas.search.loop import run_search
    from srnas.train.loop import run_train

    for fn in (run_search, run_train):
        assert len(inspect.getsource(fn).splitlines()) <= 100, fn.__name__


def _space_literals(path: Path, names: set[str]) -> list[int]:
    """Lines of ``path`` with a string constant equal to a space name (docstrings excluded)."""
    tree = ast.parse(path.read_text())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    # a Literal[...] that also holds other values is an option's own vocabulary (search.order: darts | dlsr)
    vocab = {id(e) for n in ast.walk(tree) if isinstance(n, ast.Subscript) and getattr(n.value, "id", "") == "Literal"
             and isinstance(n.slice, ast.Tuple) for e in n.slice.elts
             if any(isinstance(x, ast.Constant) and x.value not in names for x in n.slice.elts)}
    return [n.lineno for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and n.value in names and id(n) not in docs and id(n) not in vocab]


def test_a_space_is_named_only_by_its_own_modules():
    """Adding a third space touches its own modules (archs/<space>.py, search/spaces/<space>.py), its registry entry
    and its ops: no other module names a space."""
    names = set(SPACE_SPECS.keys())
    assert {"imdn", "dlsr"} <= names
    own = {PACKAGE / "archs" / f"{n}.py" for n in names} | {PACKAGE / "search" / "spaces" / f"{n}.py" for n in names}
    own.add(PACKAGE / "archs" / "weights.py")  # the table of published checkpoints: one entry per released file
    found = {str(p.relative_to(REPO)): lines for p in PACKAGE.rglob("*.py")
             if p not in own and (lines := _space_literals(p, names))}
    assert not found
