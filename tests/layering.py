"""The package's floors and its import graph, read with ``ast`` (nothing imported): what
tests/test_layers.py checks and benchmarks/layering.py measures.

Floors, lowest first (docs/development.md, "Layout"): each may import only from the floors
below it, and the two packages that share a floor (search, catalogue) not from each other::

    core < data < models < search, catalogue < integrations < evaluation < leaderboard < cli

Every ``import`` in a module counts, at module level, inside functions, and under
``TYPE_CHECKING`` alike. ``from a.b import c`` is an edge to ``a.b.c`` when that is a
module, else to ``a.b``.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = "hyperret_eval"
FLOORS: list[tuple[str, ...]] = [
    ("core",), ("data",), ("models",), ("search", "catalogue"), ("integrations",), ("evaluation",),
    ("leaderboard",), ("cli", "mteb_cli", "report", "__main__", ""),
]
FLOOR_NAMES = ["core", "data", "models", "search/catalogue", "integrations", "evaluation", "leaderboard", "cli"]


def package_modules(root: Path) -> dict[str, Path]:
    """Every module of the package under ``root`` (the package folder), by dotted name."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_package(name: str, modules: dict[str, Path]) -> bool:
    return modules[name].name == "__init__.py"


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, int]]:
    """The package modules ``name`` imports, with the line of each import."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                here = name.split(".") if _is_package(name, modules) else name.split(".")[:-1]
                anchor = here[: len(here) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:  # import a.b.c of a non-module: its package
                target = target.rpartition(".")[0]
            if target.startswith(PACKAGE) and target != name:
                found.append((target, node.lineno))
    return found


def import_graph(root: Path) -> dict[str, set[str]]:
    modules = package_modules(root)
    return {name: {target for target, _ in imports_of(name, path, modules)} for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return sorted(found)


def _package_of(module: str) -> str:
    """The top package of a module under ``hyperret_eval``."""
    return module.removeprefix(PACKAGE).lstrip(".").split(".")[0]


def floor_of(module: str) -> int:
    """The floor index of a package module (see the module docstring)."""
    top = _package_of(module)
    for number, members in enumerate(FLOORS):
        if top in members:
            return number
    raise ValueError(f"{module} stands on no floor; add its package to FLOORS")


def floor_violations(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a higher floor, or of the other package on the same floor."""
    wrong = []
    for source in sorted(graph):
        for target in sorted(graph[source]):
            up = floor_of(target) > floor_of(source)
            sideways = floor_of(target) == floor_of(source) and _package_of(target) != _package_of(source) \
                and floor_of(source) != len(FLOORS) - 1
            if up or sideways:
                wrong.append(f"{source} ({FLOOR_NAMES[floor_of(source)]}) imports {target} "
                             f"({FLOOR_NAMES[floor_of(target)]})")
    return wrong
