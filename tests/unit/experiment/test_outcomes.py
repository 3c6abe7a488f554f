"""How a trial ended, from Ray's status and its last report."""

from __future__ import annotations

import pytest

from glass_tune.experiment.outcomes import Outcome, RayStatus, stopped_early, trial_outcome


@pytest.mark.parametrize(
    "status, epoch, expected",
    [
        ("TERMINATED", 3, Outcome.COMPLETED),
        ("TERMINATED", 2, Outcome.STOPPED),  # fewer epochs than it was given: the scheduler stopped it
        ("ERROR", 1, Outcome.ERRORED),
        ("RUNNING", 1, Outcome.RUNNING),
        ("PENDING", 0, Outcome.PENDING),
        ("PAUSED", 1, Outcome.PENDING),
    ],
)
def test_outcome_of_each_ray_status(status, epoch, expected):
    outcome = trial_outcome(status, last_result={"epoch": epoch}, config={"epochs": 3})
    assert outcome == expected and outcome.finished == (status in ("TERMINATED", "ERROR"))


def test_ray_statuses_are_rays_own_strings():
    from ray.tune.experiment import Trial

    assert {s.value for s in RayStatus} == {Trial.PENDING, Trial.RUNNING, Trial.PAUSED, Trial.TERMINATED, Trial.ERROR}
    assert str(Outcome.STOPPED) == "stopped early"  # what the report's trial table prints


def test_stopped_early_is_fewer_epochs_than_configured():
    assert stopped_early(last_result={"epoch": 2}, config={"epochs": 3})
    assert not stopped_early(last_result={"epoch": 3}, config={"epochs": 3})
    assert stopped_early(last_result=None, config={"epochs": 1})
