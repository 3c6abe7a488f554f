"""The package's shape: no import circle between modules or between packages, and every package imports
only the layers below it.

Every import statement counts (module level, inside functions, under TYPE_CHECKING): each one ties
two modules together for a reader. The layers, bottom up, are :data:`LAYERS`; CONTRIBUTING.md's map
shows the same order and explains the rule. The one deliberate upward wiring is the trainable
(``trainables/glass.py``): the library's one import of it is the function the search hands Ray.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("glass_tune", "trainables", "search_spaces")
# glass_tune's subpackages and the layers right below each (bottom up; CONTRIBUTING.md's map shows the same):
# a package imports only the layers below it, transitively, never one beside it or above. experiment/
# holds the on-disk protocol that every writer and reader of an experiment agrees on; search/ runs
# searches on Ray over it, feeding tracking/ (the runs in MLflow, below search/), and beside search/ (never importing it) inference/ loads models and export/ and
# report/ render what experiments and models hold; cli/ parses, calls and prints.
LAYERS = {
    "util": (),
    "config": ("util",),
    "data": ("config",),
    "model": ("config",),
    "training": ("data", "model"),
    "experiment": ("training",),
    "tracking": ("experiment",),
    "search": ("experiment", "tracking"),
    "inference": ("experiment",),
    "export": ("inference", "tracking"),
    "report": ("inference",),
    "cli": ("search", "export", "report"),
}


def _below(package: str) -> set[str]:
    return {p for under in LAYERS[package] for p in (under, *_below(under))}


BELOW = {package: _below(package) for package in LAYERS}
# The one import of the trainable: the search hands Ray the trainable function.
TRAINABLE_WIRING = ("glass_tune.search.tuner", "trainables.glass.train_glass")
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


def _package(module: str) -> str:
    """The package a module belongs to: its glass_tune layer, ``glass_tune`` itself, or a top-level package."""
    return _layer(module) or module.split(".")[0]


def _circle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` (its nodes in order, the first repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(node: str, trail: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*trail[trail.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt, [*trail, nxt])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [node])):
            return found
    return None


def _package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Which packages import which."""
    packages: dict[str, set[str]] = {}
    for module, targets in graph.items():
        for target in targets:
            if _package(module) != _package(target):
                packages.setdefault(_package(module), set()).add(_package(target))
    return packages


def _upward(graph: dict[str, set[str]]) -> list[str]:
    """Imports of a glass_tune package that is not below the importer's (a module outside the layers,
    the trainable, may import any but cli/)."""
    return [
        f"{module} imports {target}"
        for module, targets in graph.items()
        for target in sorted(targets)
        if _layer(target) in LAYERS
        and _layer(target) != _layer(module)
        and _layer(target) not in BELOW.get(_layer(module) or "", set(LAYERS) - {"cli"})
    ]


def test_no_import_circle() -> None:
    circle = _circle(_graph())
    assert circle is None, "import circle: " + " -> ".join(circle or [])


def test_no_import_circle_between_packages() -> None:
    """Modules may be free of circles while their packages are not (a.x -> b.y and b.z -> a.w)."""
    circle = _circle(_package_graph(_graph()))
    assert circle is None, "import circle between packages: " + " -> ".join(circle or [])


def test_every_package_imports_only_the_layers_below_it() -> None:
    broken = _upward(_graph())
    assert not broken, "layer rule broken (see LAYERS here and CONTRIBUTING.md): " + "; ".join(broken)


def test_the_rules_name_an_upward_import_and_a_package_circle() -> None:
    """The checks above are live: an import they must refuse, added to the real graph, is named."""
    graph = _graph()
    for module, target in [
        ("glass_tune.experiment.results", "glass_tune.search.space"),
        ("glass_tune.export.config_formats", "glass_tune.search.driver"),
        ("glass_tune.search.driver", "glass_tune.export.config_formats"),
        ("glass_tune.search.driver", "glass_tune.inference.predict"),
        ("glass_tune.training.loop", "glass_tune.experiment.protocol"),
    ]:
        assert _upward({**graph, module: {*graph[module], target}}) == [f"{module} imports {target}"]
    # no circle between modules, one between their packages: experiment.a -> training.b, training.c -> experiment.d
    crossed = {"glass_tune.experiment.a": {"glass_tune.training.b"}, "glass_tune.training.c": {"glass_tune.experiment.d"}}
    assert _circle(crossed) is None
    assert _circle(_package_graph(crossed)) == ["experiment", "training", "experiment"]


def test_the_library_never_imports_the_trainable() -> None:
    """trainables/ is what Ray ships to workers; it speaks the protocol the library defines (experiment/protocol.py).

    The search hands Ray the trainable function itself (search/tuner.py), and that is the one name it may import.
    """
    allowed = {TRAINABLE_WIRING}
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
    assert packages == set(LAYERS)
