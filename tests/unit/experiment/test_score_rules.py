"""Score rules: the best or the smoothed score over epochs, and the --objective flag that chooses one."""

from __future__ import annotations

import math

import pytest

from glass_tune.experiment.score_rules import history_rule_score, rule_score
from glass_tune.search.options import TuneOptions
from glass_tune.util.errors import ConfigError


def test_rule_scores():
    scores = [1.0, 1.9, 1.2, 1.5, 1.4]
    assert rule_score(scores, rule="best") == 1.9
    assert rule_score(scores, rule="smoothed") == pytest.approx((1.9 + 1.5 + 1.4) / 3)
    assert rule_score([1.0, 1.2], rule="smoothed") == pytest.approx(1.1)  # fewer than 3 so far
    assert rule_score([], rule="best") == -math.inf
    rows = [{"epoch": 1, "loss": 0.3}, {"epoch": 2, "score": 1.5}, {"epoch": 3, "score": 1.7}]
    assert history_rule_score(rows, rule="smoothed") == pytest.approx(1.6)


def test_objective_flag_is_checked():
    TuneOptions(name="n", objective="smoothed").validate()
    with pytest.raises(ConfigError, match="--objective median: expected one of best, smoothed"):
        TuneOptions(name="n", objective="median").validate()
