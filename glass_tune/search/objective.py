"""What a search trial optimises, so that it ranks configurations rather than seeds.

GLASS's per-epoch validation score jumps between epochs and between seeds (see
``benchmarks/results/seed_spread.json``), and the best score over epochs is the maximum of a noisy
curve: it rewards a lucky epoch (winner's curse). Two remedies, usable together:

- ``objective: smoothed``: the mean of the best :data:`TOP_K` evaluations so far instead of the
  single best one; a config has to score well on several epochs.
- ``repeats: K``: one trial trains the configuration with K seeds in lockstep (epoch by epoch,
  ``glass_tune.training.repeats``) and reports the per-epoch mean of their metrics, so the curve ASHA
  and Optuna see is a K-seed mean and ASHA can still stop the trial after any epoch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from glass_tune.experiment.protocol import DEFAULT_METRIC, OBJECTIVE_KEY
from glass_tune.util.errors import ConfigError

OBJECTIVES = ("best", "smoothed")
DEFAULT_OBJECTIVE = "best"
DEFAULT_REPEATS = 1
TOP_K = 3


def check_objective(objective: str) -> None:
    """A one-line error for the ``--objective`` flag (``--repeats`` is a numeric option with its rule)."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective {objective}: expected one of {', '.join(OBJECTIVES)}")


def objective_metric(*, space_metric: str, objective: str) -> str:
    """The reported key a search optimises: the space's metric, or ``objective`` for ``smoothed``.

    ``smoothed`` replaces ``best_score`` (the default metric); a space that names another metric
    optimises that metric, and asking to smooth it as well is refused rather than ignored.
    """
    if objective == "best" or space_metric == OBJECTIVE_KEY:
        return space_metric
    if space_metric != DEFAULT_METRIC:
        raise ConfigError(f"--objective {objective}: the space optimises '{space_metric}'; smoothing applies to best_score only")
    return OBJECTIVE_KEY


def objective_value(scores: Sequence[float], *, objective: str, top_k: int = TOP_K) -> float:
    """The objective of a curve of evaluation scores (higher is better): the best one, or the mean
    of the best ``top_k`` (all of them while fewer were evaluated)."""
    finite = [s for s in scores if s is not None and math.isfinite(s)]
    if not finite:
        return -math.inf
    if objective == "best":
        return max(finite)
    return float(np.mean(sorted(finite)[-top_k:]))


def history_objective(history: Sequence[dict], *, objective: str) -> float:
    """:func:`objective_value` of a run's ``metrics.json`` history (resume-safe: no separate state)."""
    return objective_value([row["score"] for row in history if "score" in row], objective=objective)
