"""Repeats: one configuration trained with K seeds in lockstep reports the per-epoch mean of the runs."""

from __future__ import annotations

import pytest

from glass_tune.training.loop import fit
from glass_tune.training.repeats import SEED_STRIDE, lockstep_fit


@pytest.mark.integration  # several complete training runs compared end to end
def test_lockstep_reports_the_mean_of_independent_runs(tiny_config, tmp_path):
    config = tiny_config.replace(svd=0, epochs=2)
    steps = list(lockstep_fit(config, repeats=2, out_dir=tmp_path))
    alone = [fit(config.replace(seed=s)) for s in (0, SEED_STRIDE)]  # the same runs, one after the other
    assert [s.record.epoch for s in steps] == [1, 2]
    for i, step in enumerate(steps):
        rows = [r.history[i] for r in alone]
        assert step.record.score == pytest.approx(sum(r["score"] for r in rows) / 2)
        assert step.record.evaluation.metrics["image_auroc"] == pytest.approx(sum(r["image_auroc"] for r in rows) / 2)
        assert step.record.losses["loss"] == pytest.approx(sum(r["loss"] for r in rows) / 2)
    curve = [s.record.score for s in steps]
    assert steps[-1].best["score"] == max(curve) and steps[-1].record.best_epoch == steps[-1].best["epoch"]
    assert steps[0].test is None and steps[-1].test is not None  # held-out figures at the end only
    tests = [r.test["image_auroc"] for r in alone]
    assert steps[-1].test["image_auroc"] == pytest.approx(sum(tests) / 2)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seed_0", f"seed_{SEED_STRIDE}"]
