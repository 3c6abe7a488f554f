"""Names from earlier layouts that Ray pickled into experiments, kept resolvable so those experiments resume.

Ray pickles the Optuna searcher, the search space, Tune callbacks, the checkpoint guard, the trial
name function and the confirmation's searcher into an experiment's state under their module paths;
an experiment started with an earlier layout must still resume, report and export.

- :data:`OLD_TO_NEW`: modules renamed since (the flat layout before 0.1's packages per concern, and
  later moves). Old names resolve to the new modules (the same module objects, so ``isinstance`` and
  pickle agree).  Old names that are packages now (``config``, ``training``, ``export``, ``report``,
  ``cli``) keep their public names through those packages' ``__init__``.
- :data:`MOVED_NAMES`: names that left a module that still exists. That module resolves them through
  ``__getattr__ = legacy_names.moved_names(__name__)`` (PEP 562), so pickle's ``getattr(module, name)``
  finds them where they live now.

``tests/unit/util/test_legacy_names.py`` unpickles a reference to every name each layout pickled.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
from collections.abc import Callable
from types import ModuleType
from typing import Any

OLD_TO_NEW = {
    "glass_tune.errors": "glass_tune.util.errors",
    "glass_tune.io": "glass_tune.util.atomic_io",
    "glass_tune.logs": "glass_tune.util.logs",
    "glass_tune.notices": "glass_tune.util.notices",
    "glass_tune.runtime": "glass_tune.util.runtime",
    "glass_tune.yaml_values": "glass_tune.config.yaml_values",
    "glass_tune.data.categories": "glass_tune.data.svd_table",
    "glass_tune.data.synthetic": "glass_tune.data.demo",
    "glass_tune.data.formats": "glass_tune.data.layouts",
    "glass_tune.data.layout": "glass_tune.data.samples",
    "glass_tune.run_data": "glass_tune.training.run_inputs",
    "glass_tune.metrics": "glass_tune.training.metrics",
    "glass_tune.checkpoint": "glass_tune.training.checkpoint",
    "glass_tune.console": "glass_tune.training.console",
    "glass_tune.tensorboard_log": "glass_tune.training.tensorboard_log",
    "glass_tune.check_data": "glass_tune.training.data_check",
    "glass_tune.tuner": "glass_tune.search.driver",
    "glass_tune.search_space": "glass_tune.search.space",
    "glass_tune.strategy": "glass_tune.search.samplers",
    "glass_tune.study": "glass_tune.search.optuna_searcher",
    "glass_tune.objective": "glass_tune.experiment.score_rules",
    "glass_tune.tune_progress": "glass_tune.search.progress",
    "glass_tune.jobs": "glass_tune.search.jobs",
    "glass_tune.checkpoint_guard": "glass_tune.search.checkpoint_guard",
    "glass_tune.storage": "glass_tune.experiment.storage",
    "glass_tune.results": "glass_tune.experiment.results",
    "glass_tune.status": "glass_tune.experiment.status",
    "glass_tune.report_data": "glass_tune.experiment.view",
    "glass_tune.onnx_export": "glass_tune.export.onnx_model",
    "glass_tune.predict": "glass_tune.inference.predict",
    "glass_tune.report_plots": "glass_tune.report.plots",
    "glass_tune.dashboard": "glass_tune.report.dashboard",
    # issue 25: the confirmation's Ray runner, named apart from its record (experiment/confirmation.py)
    "glass_tune.search.confirm": "glass_tune.search.confirmation_runner",
}

# (module Ray pickled the name under, name) -> the module that holds the name now (issue 25: the on-disk
# protocol in experiment/, the driver split by job)
MOVED_NAMES = {
    ("glass_tune.experiment.results", "Objective"): "glass_tune.experiment.protocol",
    ("glass_tune.search.driver", "trial_dirname"): "glass_tune.search.tuner",
}


def moved_names(module: str) -> Callable[[str], Any]:
    """The ``__getattr__`` of ``module`` (PEP 562): the names in :data:`MOVED_NAMES` it held once."""

    def lookup(name: str) -> Any:
        target = MOVED_NAMES.get((module, name))
        if target is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        return getattr(importlib.import_module(target), name)

    return lookup


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, target: str) -> None:
        self.target = target

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        return importlib.import_module(self.target)

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: the new module was executed under its own name."""


class _OldNameFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: object = None, target: object = None) -> importlib.machinery.ModuleSpec | None:
        new = OLD_TO_NEW.get(fullname)
        return None if new is None else importlib.machinery.ModuleSpec(fullname, _AliasLoader(new))


def install() -> None:
    """Let ``import glass_tune.<old name>`` (and unpickling) find the moved module; once per process."""
    if not any(isinstance(finder, _OldNameFinder) for finder in sys.meta_path):
        sys.meta_path.append(_OldNameFinder())
