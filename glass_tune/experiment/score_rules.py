"""Score rules: how a trial's evaluation scores become the one value a search may rank it by, so that it
ranks configurations rather than seeds.

GLASS's per-epoch validation score jumps between epochs and between seeds (see
``benchmarks/results/seed_spread.json``), and the best score over epochs is the maximum of a noisy
curve: it rewards a lucky epoch (winner's curse). Two remedies, usable together:

- the score rule ``smoothed`` (``--objective smoothed``): the mean of the best :data:`TOP_K`
  evaluations so far instead of the single best one (``best``); a config has to score well on
  several epochs. Every trial reports its rule's value (``glass_tune.experiment.protocol.RULED_SCORE_KEY``),
  which a smoothed search optimises.
- ``repeats: K``: one trial trains the configuration with K seeds in lockstep (epoch by epoch,
  ``glass_tune.training.repeats``) and reports the per-epoch mean of their metrics, so the curve ASHA
  and Optuna see is a K-seed mean and ASHA can still stop the trial after any epoch.

"Objective" here is only a name on disk (the trial-config key, the reported key and the flag keep it
for old experiments): :class:`glass_tune.experiment.protocol.Objective` is which reported key a search
optimises and in which direction.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

SCORE_RULES = ("best", "smoothed")  # what --objective takes
DEFAULT_SCORE_RULE = "best"
TOP_K = 3


def rule_score(scores: Sequence[float], *, rule: str, top_k: int = TOP_K) -> float:
    """The value of a curve of evaluation scores (higher is better) under ``rule``: the best one, or the
    mean of the best ``top_k`` (all of them while fewer were evaluated)."""
    finite = [s for s in scores if s is not None and math.isfinite(s)]
    if not finite:
        return -math.inf
    if rule == "best":
        return max(finite)
    return float(np.mean(sorted(finite)[-top_k:]))


def history_rule_score(history: Sequence[dict], *, rule: str) -> float:
    """:func:`rule_score` of a run's ``metrics.json`` history (resume-safe: no separate state)."""
    return rule_score([row["score"] for row in history if "score" in row], rule=rule)
