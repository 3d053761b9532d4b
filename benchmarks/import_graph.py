"""The package's import graph by area (subpackage or top-level module), its layers, the longest modules and
functions: prints the picture of the README's Layout section and checks that no arrow points up.

    python benchmarks/import_graph.py [--root srnas] [--mermaid]

Every ``import srnas...`` counts, also the ones inside functions (a lazy import is still an arrow). Areas sit in
layers (:data:`LAYERS`, bottom first); an area may import its own layer and the ones below. Exit code 1 when an arrow
points up (for example the option layer ``config`` importing ``search`` or ``archs``).
"""
from __future__ import annotations

import argparse
import ast
import sys
from collections import Counter
from pathlib import Path

LAYERS = (  # bottom first
    ("base", ("errors", "registry", "utils", "losses", "harness")),
    ("options and data", ("config", "data")),
    ("networks and evaluation", ("archs", "exact_tiling", "infer", "eval")),
    ("search, training, deployment", ("search", "train", "loader", "latency", "export")),
    ("workflows", ("study", "pipeline")),
    ("command line", ("commands", "cli", "__main__", "srnas")),  # srnas: the package __init__
)
LEVEL = {a: i for i, (_, areas) in enumerate(LAYERS) for a in areas}


def upward(edges) -> list[tuple[str, str]]:
    """Arrows from an area to an area of a higher layer (or to an area no layer lists)."""
    return sorted((s, d) for (s, d) in edges if LEVEL.get(d, 99) > LEVEL.get(s, -1))


def layer_picture(edges) -> str:
    """The layers top-down, each area with the areas it imports (the README's picture)."""
    out = []
    for name, areas in reversed(LAYERS):
        out.append(f"{name}:")
        for a in areas:
            targets = sorted(d for (s, d) in edges if s == a)
            out.append(f"  {a:<13} -> {', '.join(targets) if targets else '(nothing in srnas)'}")
    return "\n".join(out)


def area(module: str) -> str:
    """``srnas.search.spaces.imdn`` -> ``search``; ``srnas.harness`` -> ``harness``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else parts[0]


def module_name(root: Path, path: Path) -> str:
    rel = path.relative_to(root.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def imports(path: Path, package: str) -> set[str]:
    """Absolute ``srnas.*`` modules imported anywhere in a file (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.split(".")[0] == "srnas"}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] == "srnas":
                found.add(mod)
    return found


def longest_functions(path: Path, n: int = 3) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    out = [(node.end_lineno - node.lineno + 1, node.name) for node in ast.walk(tree)
           if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))]
    return sorted(out, reverse=True)[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[1] / "srnas"))
    ap.add_argument("--mermaid", action="store_true", help="print the area graph in Mermaid instead of the layers")
    args = ap.parse_args()
    root = Path(args.root).resolve()
    edges: Counter = Counter()
    sizes, funcs = [], []
    for path in sorted(root.rglob("*.py")):
        name = module_name(root, path)
        pkg = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        src = area(name)
        for target in imports(path, pkg):
            dst = area(target)
            if dst != src and dst != "srnas":
                edges[(src, dst)] += 1
        sizes.append((len(path.read_text().splitlines()), str(path.relative_to(root.parent))))
        funcs += [(n, f"{path.relative_to(root.parent)}:{f}") for n, f in longest_functions(path)]
    bad = upward(edges)
    if args.mermaid:
        print("\n".join(["graph TD"] + [f"  {s} --> {d}" for (s, d) in sorted(edges)]))
        return 1 if bad else 0
    print(layer_picture(edges))
    print(f"\n{len(edges)} arrows between {len({a for e in edges for a in e})} areas")
    print("longest modules:", ", ".join(f"{p} {n}" for n, p in sorted(sizes, reverse=True)[:6]))
    print("longest functions:", ", ".join(f"{p} {n}" for n, p in sorted(funcs, reverse=True)[:6]))
    print("upward arrows:", ", ".join(f"{s} -> {d}" for s, d in bad) if bad else "none")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
