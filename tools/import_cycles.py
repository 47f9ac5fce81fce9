"""Find import cycles, and imports of private names, among ragloom's modules.

A small AST scan, not an import: it reads every `import` and `from ... import` of every module
(laid out as ragloom installs, from pyproject's package-dir), at module level and inside
functions, and reports each strongly connected group of modules as a cycle. Imports under
`if TYPE_CHECKING:` are left out: they never run. A function-level import that closes a cycle
must be listed in ALLOWED with the reason it cannot go; every other one counts like a module-
level import, so a cycle cannot hide in a function body.

Usage: python tools/import_cycles.py [--root DIR]   (exit 1, naming each, when any is found)
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

if __package__ in (None, ""):  # run as a script: tools/ is not on sys.path as a package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tools.typecheck import package_dirs

ROOT = Path(__file__).resolve().parents[1]

#: (importer, imported) -> why this function-level import stays although it closes a cycle.
ALLOWED: dict[tuple[str, str], str] = {}


@dataclass(frozen=True)
class Import:
    """One import statement's edge: `source` imports `target` at `line`, maybe in a function."""

    source: str
    target: str
    line: int
    in_function: bool


def module_files(root: Path) -> dict[str, Path]:
    """Every module by its installed name (`ragloom.retrievers.bm25`) -> its file."""
    modules: dict[str, Path] = {}
    for package, folder in package_dirs(root).items():
        base = root / folder
        for file in sorted(base.rglob("*.py")):
            parts = file.relative_to(base).with_suffix("").parts
            if "__pycache__" in parts:
                continue
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = file
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _visit(node: ast.AST, in_function: bool) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Import statements in `node` and below, skipping `if TYPE_CHECKING:` bodies."""
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, in_function
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for child in node.orelse:
            yield from _visit(child, in_function)
        return
    inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
    for child in ast.iter_child_nodes(node):
        yield from _visit(child, inner)


def imports(root: Path) -> list[Import]:
    """Every first-party import edge of every module under `root`."""
    modules = module_files(root)
    edges: list[Import] = []
    for name, file in modules.items():
        is_package = file.name == "__init__.py"
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        for node, in_function in _visit(tree, False):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".")[: len(name.split(".")) - node.level + is_package]
                    base = ".".join([*anchor, base] if base else anchor)
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    targets.append(sub if sub in modules else base)
            for target in targets:
                while target and target not in modules:  # `import a.b.c.Name` -> a.b.c
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.append(Import(name, target, node.lineno, in_function))
    return list(dict.fromkeys(edges))  # `from m import a, b`: one edge


def private_imports(root: Path) -> list[str]:
    """`from ragloom.x import _name` in another module, as `file:line: importer imports ...`.

    A name with a leading underscore is private to its module: a second module that needs it
    should get it public, or from a module both import.
    """
    modules = module_files(root)
    found = []
    for name, file in modules.items():
        tree = ast.parse(file.read_text(encoding="utf-8"), str(file))
        for node, _ in _visit(tree, False):
            if not isinstance(node, ast.ImportFrom) or node.level or node.module not in modules:
                continue
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    where = f"{file.relative_to(root)}:{node.lineno}"
                    found.append(f"{where}: {name} imports {alias.name} from {node.module}")
    return found


def cycles(edges: list[Import]) -> list[list[str]]:
    """Groups of modules that import each other (Tarjan's strongly connected components)."""
    graph: dict[str, set[str]] = {}
    for edge in edges:
        if edge.in_function and (edge.source, edge.target) in ALLOWED:
            continue
        graph.setdefault(edge.source, set()).add(edge.target)
        graph.setdefault(edge.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for succ in sorted(graph[node]):
            if succ not in index:
                visit(succ)
                low[node] = min(low[node], low[succ])
            elif succ in on_stack:
                low[node] = min(low[node], index[succ])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph) + 100))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def report(root: Path) -> list[str]:
    """One entry per cycle: its modules, then the import statements (file:line) inside it."""
    edges = imports(root)
    files = module_files(root)
    lines = []
    for group in cycles(edges):
        members = set(group)
        inside = [
            f"{files[e.source].relative_to(root)}:{e.line} {e.source} -> {e.target}"
            + (" (in a function)" if e.in_function else "")
            for e in edges
            if e.source in members
            and e.target in members
            and not (e.in_function and (e.source, e.target) in ALLOWED)
        ]
        lines.append("import cycle: " + ", ".join(group) + "\n  " + "\n  ".join(inside))
    return lines


def main(argv: list[str] | None = None) -> int:
    """Command-line entry: print the cycles; exit 1 when there are any."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT, help="repository root to scan")
    args = parser.parse_args(argv)
    root = args.root.resolve()
    found = report(root) + private_imports(root)
    print("\n".join(found) if found else "no import cycles, no private imports")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
