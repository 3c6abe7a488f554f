"""The package's shape: no import circle, and every package imports only the layers below it.

Every import statement counts (module level, inside functions, under TYPE_CHECKING): each one ties
two modules together for a reader. The layers, bottom up, are util, config, data, model, training;
search and experiment use them; export, inference and report read what those wrote; cli sits on top
and nothing imports it. CONTRIBUTING.md explains the rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("glass_tune", "trainables", "search_spaces")
ABOVE_TRAINING = {"search", "tracking", "experiment", "export", "inference", "report", "cli"}
# glass_tune subpackage -> the glass_tune subpackages it must never import.
FORBIDDEN = {
    "util": {"config", "data", "model", "training", *ABOVE_TRAINING},
    "config": {"data", "model", "training", *ABOVE_TRAINING},
    "data": {"model", "training", *ABOVE_TRAINING},
    "model": {"data", "training", *ABOVE_TRAINING},
    "training": ABOVE_TRAINING,
    "search": {"cli", "report", "inference"},
    "experiment": {"cli", "report", "inference", "tracking"},
    "export": {"cli", "report", "tracking"},
    "inference": {"cli", "report", "tracking"},
    "report": {"cli", "tracking"},
    "tracking": {"cli", "report"},  # fed by search/ (tracking_sink); reads experiments, exports models
}
# Layers that run inside every trial and in plain `glass-tune train`: no Ray or Optuna import at load time.
NO_SEARCH_LIBRARIES_AT_LOAD = ("util", "config", "data", "model", "training")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            found[".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _imported_names(module: str, path: Path, nodes: list[ast.AST]) -> list[str]:
    """Absolute names the import statements among ``nodes`` import (``from a import b`` gives a.b)."""
    base = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names = []
    for node in nodes:
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                parts = base.split(".")[: len(base.split(".")) - node.level + 1]
                source = ".".join([*parts, *([source] if source else [])])
            names += [f"{source}.{a.name}" for a in node.names]
    return names


def _own_module(name: str) -> str | None:
    """The project module an imported name lives in (its longest known prefix), if any."""
    while name and name not in MODULES:
        name = name.rpartition(".")[0]
    return name or None


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for module, path in MODULES.items():
        targets = set()
        for name in _imported_names(module, path, list(ast.walk(ast.parse(path.read_text())))):
            target = _own_module(name)
            if target and target != module:
                targets.add(target)
        graph[module] = targets
    return graph


def _layer(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "glass_tune" and len(parts) > 1 else None


def test_no_import_circle() -> None:
    graph = _graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join([*trail[trail.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_every_package_imports_only_the_layers_below_it() -> None:
    broken = [
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in sorted(targets)
        if _layer(target) in FORBIDDEN.get(_layer(module) or "", set())
        or (target.startswith("glass_tune.cli") and _layer(module) != "cli")
    ]
    assert not broken, "layer rule broken (see CONTRIBUTING.md): " + "; ".join(broken)


def test_the_library_never_imports_the_trainable() -> None:
    """trainables/ is what Ray ships to workers; it speaks the protocol the library defines (search/protocol.py).

    The driver hands Ray the trainable function itself, and that is the one name it may import.
    """
    allowed = {("glass_tune.search.driver", "trainables.glass.train_glass")}
    broken = [
        f"{module} imports {name}"
        for module, path in MODULES.items()
        if module.startswith("glass_tune")
        for name in _imported_names(module, path, list(ast.walk(ast.parse(path.read_text()))))
        if name.startswith("trainables") and (module, name) not in allowed
    ]
    assert not broken, "; ".join(broken)


def test_training_layers_load_without_ray_or_optuna() -> None:
    broken = []
    for module, path in MODULES.items():
        if _layer(module) in NO_SEARCH_LIBRARIES_AT_LOAD:
            tree = ast.parse(path.read_text())
            broken += [f"{module}: {n}" for n in _imported_names(module, path, tree.body) if n.split(".")[0] in ("ray", "optuna")]
    assert not broken, "Ray/Optuna imported at module level: " + "; ".join(broken)


def test_the_rules_see_every_package() -> None:
    """A new package must be placed in a layer, or the rules above would not check it."""
    packages = {_layer(m) for m in MODULES if _layer(m) and (ROOT / "glass_tune" / _layer(m)).is_dir()}
    assert packages == {*FORBIDDEN, "cli"}
