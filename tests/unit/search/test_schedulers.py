"""ASHA's grace period sized from the schedule."""

from __future__ import annotations

import pytest

from glass_tune.search.schedulers import grace_period


@pytest.mark.parametrize(
    "epochs, interval, explicit, expected",
    [
        (640, 1, None, 160),  # the official schedule: a quarter, not 1 epoch
        (10, 1, None, 3),  # short schedules: at least 3 evaluations
        (20, 5, None, 15),  # evaluated every 5 epochs: 3 evaluations
        (2, 1, None, 2),  # never beyond the schedule
        (640, 1, 7, 7),  # an explicit --grace-period wins
        (4, 1, 9, 4),
    ],
)
def test_grace_period(epochs, interval, explicit, expected):
    assert grace_period(epochs=epochs, eval_interval=interval, explicit=explicit) == expected
