"""How a search spends its budget: the Optuna sampler and the ASHA early-stopping settings.

Defaults are sized from the budget instead of Optuna's and Ray's fixed ones: Optuna's TPE starts with
10 random trials, so a default 8-trial search would be a random search; Ray's ASHA judges trials
after one epoch, while GLASS's per-epoch validation score jumps by more than the knobs move it.
"""

from __future__ import annotations

import math
import warnings
from typing import TYPE_CHECKING

from glass_tune.util.errors import ConfigError

if TYPE_CHECKING:  # optuna is imported where a sampler is built, not by the CLI's flag choices
    import optuna

SAMPLERS = ("tpe", "random", "gp", "cmaes")
DEFAULT_SAMPLER = "tpe"
# ASHA's first rung: a quarter of the schedule, and at least this many evaluations, so a trial is
# judged on a stretch of its curve rather than on one noisy evaluation.
GRACE_FRACTION = 0.25
MIN_GRACE_EVALUATIONS = 3


def startup_trials(samples: int) -> int:
    """Random trials before the model-based sampler takes over: a quarter of the budget, at least 2."""
    return max(2, samples // 4)


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
    n_startup = startup_trials(samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if kind == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if kind == "gp":
            return optuna.samplers.GPSampler(seed=seed, n_startup_trials=n_startup, warn_independent_sampling=False)
        if kind == "cmaes":
            return optuna.samplers.CmaEsSampler(
                seed=seed, n_startup_trials=n_startup, warn_independent_sampling=False, consider_pruned_trials=True
            )
        return optuna.samplers.TPESampler(
            seed=seed,
            n_startup_trials=n_startup,
            multivariate=True,
            group=conditional,
            constant_liar=parallel,
        )


def grace_period(*, epochs: int, eval_interval: int, explicit: int | None = None, fraction: float = GRACE_FRACTION) -> int:
    """ASHA's grace period in epochs: ``explicit`` when given, else ``fraction`` of the schedule and
    at least :data:`MIN_GRACE_EVALUATIONS` evaluations, never more than ``epochs``."""
    if explicit is not None:
        return min(explicit, epochs)
    by_fraction = math.ceil(fraction * epochs)
    by_evaluations = MIN_GRACE_EVALUATIONS * eval_interval
    return max(1, min(epochs, max(by_fraction, by_evaluations)))
