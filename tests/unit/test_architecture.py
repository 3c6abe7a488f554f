"""The package's shape: no import circle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import glass_tune


def _imports(path: Path, package: Path) -> set[str]:
    """glass_tune modules ``path`` imports anywhere (top level, TYPE_CHECKING blocks, functions).

    ``from pkg import submodule`` depends on the submodule, not on ``pkg/__init__``.
    """

    def is_module(name: str) -> bool:
        base = package.parent / name.replace(".", "/")
        return name.startswith("glass_tune") and (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file())

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if is_module(a.name))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and is_module(node.module):
            subs = [f"{node.module}.{a.name}" for a in node.names if is_module(f"{node.module}.{a.name}")]
            found.update(subs if len(subs) == len(node.names) else [node.module, *subs])
    return found


def test_no_import_circle_in_the_package():
    package = Path(glass_tune.__file__).parent
    graph = {}
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")
        graph[module] = _imports(path, package) - {module}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join([*trail[trail.index(nxt) :], nxt]) if nxt in trail else nxt)
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
