"""The objective: best or smoothed over epochs, its flags; repeats train one configuration with K seeds in lockstep."""

from __future__ import annotations

import math

import pytest

from glass_tune.search.objective import SEED_STRIDE, check_objective, history_objective, lockstep_fit, objective_value
from glass_tune.training.loop import fit
from glass_tune.util.errors import ConfigError


@pytest.mark.integration  # several complete training runs compared end to end
def test_lockstep_reports_the_mean_of_independent_runs(tiny_config, tmp_path):
    config = tiny_config.replace(svd=0, epochs=2)
    steps = list(lockstep_fit(config, repeats=2, objective="smoothed", out_dir=tmp_path))
    alone = [fit(config.replace(seed=s)) for s in (0, SEED_STRIDE)]  # the same runs, one after the other
    assert [s.record.epoch for s in steps] == [1, 2]
    for i, step in enumerate(steps):
        rows = [r.history[i] for r in alone]
        assert step.record.score == pytest.approx(sum(r["score"] for r in rows) / 2)
        assert step.record.evaluation.metrics["image_auroc"] == pytest.approx(sum(r["image_auroc"] for r in rows) / 2)
        assert step.record.losses["loss"] == pytest.approx(sum(r["loss"] for r in rows) / 2)
    curve = [s.record.score for s in steps]
    assert steps[-1].best["score"] == max(curve) and steps[-1].record.best_epoch == steps[-1].best["epoch"]
    assert steps[-1].objective == pytest.approx(objective_value(curve, objective="smoothed"))
    assert steps[0].test is None and steps[-1].test is not None  # held-out figures at the end only
    tests = [r.test["image_auroc"] for r in alone]
    assert steps[-1].test["image_auroc"] == pytest.approx(sum(tests) / 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed_0", f"seed_{SEED_STRIDE}"]


def test_objective_values():
    scores = [1.0, 1.9, 1.2, 1.5, 1.4]
    assert objective_value(scores, objective="best") == 1.9
    assert objective_value(scores, objective="smoothed") == pytest.approx((1.9 + 1.5 + 1.4) / 3)
    assert objective_value([1.0, 1.2], objective="smoothed") == pytest.approx(1.1)  # fewer than 3 so far
    assert objective_value([], objective="best") == -math.inf
    rows = [{"epoch": 1, "loss": 0.3}, {"epoch": 2, "score": 1.5}, {"epoch": 3, "score": 1.7}]
    assert history_objective(rows, objective="smoothed") == pytest.approx(1.6)


def test_objective_flags_are_checked():
    check_objective(objective="smoothed", repeats=3)
    with pytest.raises(ConfigError, match="--objective median"):
        check_objective(objective="median", repeats=1)
    with pytest.raises(ConfigError, match="--repeats 0: expected at least 1"):
        check_objective(objective="best", repeats=0)
