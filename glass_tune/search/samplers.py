"""Which configurations a search tries: the Optuna sampler, sized from the budget.

Optuna's TPE starts with 10 random trials, so a default 8-trial search would be a random search;
here the random start is a quarter of the budget. (When trials stop: ``search/schedulers.py``.)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from glass_tune.util.errors import ConfigError

if TYPE_CHECKING:  # optuna is imported where a sampler is built, not by the CLI's flag choices
    import optuna


def startup_trials(samples: int) -> int:
    """Random trials before the model-based sampler takes over: a quarter of the budget, at least 2."""
    return max(2, samples // 4)


def _tpe(*, seed: int, n_startup: int, parallel: bool, conditional: bool) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.TPESampler(
        seed=seed, n_startup_trials=n_startup, multivariate=True, group=conditional, constant_liar=parallel
    )


def _random(*, seed: int, **_: object) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _gp(*, seed: int, n_startup: int, **_: object) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup, warn_independent_sampling=False)


def _cmaes(*, seed: int, n_startup: int, **_: object) -> optuna.samplers.BaseSampler:
    import optuna

    return optuna.samplers.CmaEsSampler(
        seed=seed, n_startup_trials=n_startup, warn_independent_sampling=False, consider_pruned_trials=True
    )


# --sampler NAME -> Optuna's sampler, configured (Optuna's own names; the registry is what --sampler offers)
SAMPLERS: dict[str, Callable[..., optuna.samplers.BaseSampler]] = {"tpe": _tpe, "random": _random, "gp": _gp, "cmaes": _cmaes}
DEFAULT_SAMPLER = "tpe"


def make_sampler(*, kind: str, seed: int, samples: int, parallel: bool, conditional: bool) -> optuna.samplers.BaseSampler:
    """Optuna's own sampler ``kind`` configured for a budget of ``samples`` trials.

    ``parallel``: trials run at the same time, so TPE pretends running trials scored badly
    (constant liar) instead of proposing the same point twice. ``conditional``: the space has
    parameters sampled only under a condition; TPE then models the parameters jointly per group
    of co-occurring parameters (multivariate + group) instead of each on its own.
    """
    import optuna

    if kind not in SAMPLERS:
        raise ConfigError(f"--sampler {kind}: expected one of {', '.join(SAMPLERS)}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return SAMPLERS[kind](seed=seed, n_startup=startup_trials(samples), parallel=parallel, conditional=conditional)
