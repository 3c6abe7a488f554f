"""Every name Ray pickled into an experiment under an earlier layout still unpickles, to today's object.

A pickle refers to a class or function by module and name (``GLOBAL module name``); Ray's state
files of an interrupted search hold such references (tuner.pkl, the searcher's state, experiment
state). Each layout's list below is what its experiments hold (``tests/fixtures/legacy_experiment``
shows the flat one); a name that moves needs its entry in ``glass_tune.util.legacy_names``.
"""

from __future__ import annotations

import importlib
import pickle

import pytest

import glass_tune  # noqa: F401  (installs the old module names)
from glass_tune.util.legacy_names import MOVED_NAMES, OLD_TO_NEW

# (module as pickled, name, where it lives now)
FLAT_LAYOUT = [  # before packages per concern (tests/fixtures/legacy_experiment)
    ("glass_tune.study", "GlassOptunaSearch", "glass_tune.search.optuna_searcher"),
    ("glass_tune.search_space", "SpaceSampler", "glass_tune.search.space"),
    ("glass_tune.search_space", "SearchSpace", "glass_tune.search.space"),
    ("glass_tune.search_space", "Param", "glass_tune.search.space"),
    ("glass_tune.tuner", "trial_dirname", "glass_tune.search.tuner"),
    ("glass_tune.checkpoint_guard", "VanishedCheckpointGuard", "glass_tune.search.checkpoint_guard"),
    ("glass_tune.tune_progress", "ProgressCallback", "glass_tune.search.progress"),
    ("glass_tune.results", "Objective", "glass_tune.experiment.protocol"),
]
PACKAGE_LAYOUT = [  # packages per concern, before issue 25 (the protocol in experiment/, the driver split)
    ("glass_tune.search.optuna_searcher", "GlassOptunaSearch", "glass_tune.search.optuna_searcher"),
    ("glass_tune.search.space", "SpaceSampler", "glass_tune.search.space"),
    ("glass_tune.search.space", "SearchSpace", "glass_tune.search.space"),
    ("glass_tune.search.space", "Param", "glass_tune.search.space"),
    ("glass_tune.search.driver", "trial_dirname", "glass_tune.search.tuner"),
    ("glass_tune.search.checkpoint_guard", "VanishedCheckpointGuard", "glass_tune.search.checkpoint_guard"),
    ("glass_tune.search.progress", "ProgressCallback", "glass_tune.search.progress"),
    ("glass_tune.experiment.results", "Objective", "glass_tune.experiment.protocol"),
    ("glass_tune.search.trial_events", "TrialEvents", "glass_tune.search.trial_events"),
    ("glass_tune.search.trial_events", "TrialIndexSink", "glass_tune.search.trial_events"),
    ("glass_tune.search.confirm", "FixedTrials", "glass_tune.search.confirmation_runner"),
]


@pytest.mark.parametrize(("module", "name", "home"), FLAT_LAYOUT + PACKAGE_LAYOUT, ids=lambda v: v)
def test_a_pickled_reference_resolves_to_todays_object(module: str, name: str, home: str) -> None:
    reference = b"c" + module.encode() + b"\n" + name.encode() + b"\n."  # pickle protocol 0: GLOBAL, STOP
    assert pickle.loads(reference) is getattr(importlib.import_module(home), name)


def test_every_moved_name_and_module_is_listed_by_a_layout() -> None:
    """An entry no layout pickled is dead weight; a layout's name that moved has its entry (above)."""
    pickled = {(module, name) for module, name, _ in FLAT_LAYOUT + PACKAGE_LAYOUT}
    assert set(MOVED_NAMES) <= pickled | {(OLD_TO_NEW.get(m, m), n) for m, n in pickled}


def test_an_unknown_name_is_an_attribute_error() -> None:
    results = importlib.import_module("glass_tune.experiment.results")
    with pytest.raises(AttributeError, match="no attribute 'Nothing'"):
        results.Nothing  # noqa: B018
