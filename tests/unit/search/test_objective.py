"""The objective: the best or the smoothed score over epochs, and its flags."""

from __future__ import annotations

import math

import pytest

from glass_tune.search.objective import check_objective, history_objective, objective_value
from glass_tune.util.errors import ConfigError


def test_objective_values():
    scores = [1.0, 1.9, 1.2, 1.5, 1.4]
    assert objective_value(scores, objective="best") == 1.9
    assert objective_value(scores, objective="smoothed") == pytest.approx((1.9 + 1.5 + 1.4) / 3)
    assert objective_value([1.0, 1.2], objective="smoothed") == pytest.approx(1.1)  # fewer than 3 so far
    assert objective_value([], objective="best") == -math.inf
    rows = [{"epoch": 1, "loss": 0.3}, {"epoch": 2, "score": 1.5}, {"epoch": 3, "score": 1.7}]
    assert history_objective(rows, objective="smoothed") == pytest.approx(1.6)


def test_objective_flag_is_checked():
    check_objective("smoothed")
    with pytest.raises(ConfigError, match="--objective median"):
        check_objective("median")
