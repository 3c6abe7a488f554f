"""The sampler factory, sized from the budget."""

from __future__ import annotations

import optuna
import pytest

from glass_tune.search.samplers import SAMPLERS, make_sampler, startup_trials
from glass_tune.util.errors import ConfigError


@pytest.mark.parametrize("samples, expected", [(1, 2), (8, 2), (12, 3), (40, 10)])
def test_startup_trials_scale_with_the_budget(samples, expected):
    assert startup_trials(samples) == expected


def test_default_tpe_is_model_based_after_a_quarter_of_the_budget():
    tpe = make_sampler(kind="tpe", seed=0, samples=8, parallel=True, conditional=True)
    assert isinstance(tpe, optuna.samplers.TPESampler)
    assert tpe._n_startup_trials == 2  # Optuna's default 10 would make an 8-trial search random
    assert tpe._multivariate and tpe._group and tpe._constant_liar
    serial = make_sampler(kind="tpe", seed=0, samples=8, parallel=False, conditional=False)
    assert not serial._constant_liar and not serial._group


@pytest.mark.parametrize(
    "kind, cls",
    [("random", optuna.samplers.RandomSampler), ("gp", optuna.samplers.GPSampler), ("cmaes", optuna.samplers.CmaEsSampler)],
)
def test_other_samplers_are_optunas_own(kind, cls):
    sampler = make_sampler(kind=kind, seed=0, samples=8, parallel=False, conditional=False)
    assert isinstance(sampler, cls)
    study = optuna.create_study(direction="maximize", sampler=sampler)
    study.optimize(lambda t: -((t.suggest_float("x", 0.0, 1.0) - 0.3) ** 2), n_trials=4)  # runs with each
    assert len(study.trials) == 4 and set(SAMPLERS) == {"tpe", "random", "gp", "cmaes"}


def test_unknown_sampler_is_one_line():
    with pytest.raises(ConfigError, match="--sampler annealing: expected one of tpe, random, gp, cmaes"):
        make_sampler(kind="annealing", seed=0, samples=8, parallel=False, conditional=False)
