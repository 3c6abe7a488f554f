"""When a search stops a trial: ASHA (or FIFO), with the grace period sized from the schedule.

Ray's ASHA judges trials after one epoch by default, while GLASS's per-epoch validation score jumps
by more than the knobs move it; here a trial is judged on a stretch of its curve.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from glass_tune.util.errors import ConfigError

# ASHA's first rung: a quarter of the schedule, and at least this many evaluations, so a trial is
# judged on a stretch of its curve rather than on one noisy evaluation.
GRACE_FRACTION = 0.25
MIN_GRACE_EVALUATIONS = 3


def grace_period(*, epochs: int, eval_interval: int, explicit: int | None = None, fraction: float = GRACE_FRACTION) -> int:
    """ASHA's grace period in epochs: ``explicit`` when given, else ``fraction`` of the schedule and
    at least :data:`MIN_GRACE_EVALUATIONS` evaluations, never more than ``epochs``."""
    if explicit is not None:
        return min(explicit, epochs)
    by_fraction = math.ceil(fraction * epochs)
    by_evaluations = MIN_GRACE_EVALUATIONS * eval_interval
    return max(1, min(epochs, max(by_fraction, by_evaluations)))


def _asha(*, epochs: int, eval_interval: int, grace: int | None, reduction_factor: int) -> Any:
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="epoch",
        max_t=epochs,
        grace_period=grace_period(epochs=epochs, eval_interval=eval_interval, explicit=grace),
        reduction_factor=reduction_factor,
    )


def _fifo(**_: Any) -> Any:
    from ray.tune.schedulers import FIFOScheduler

    return FIFOScheduler()


# --scheduler NAME -> Ray Tune's trial scheduler: ASHA on epochs, or FIFO (every trial runs to the end)
SCHEDULERS: dict[str, Callable[..., Any]] = {"asha": _asha, "fifo": _fifo}
DEFAULT_SCHEDULER = "asha"


def make_scheduler(kind: str, *, epochs: int, eval_interval: int, grace: int | None = None, reduction_factor: int = 2) -> Any:
    """Ray Tune's trial scheduler ``kind`` for a search of ``epochs`` epochs evaluated every ``eval_interval``
    (``grace``: ``--grace-period``, None for :func:`grace_period`'s default)."""
    if kind not in SCHEDULERS:
        raise ConfigError(f"--scheduler {kind}: expected one of {', '.join(SCHEDULERS)}")
    return SCHEDULERS[kind](epochs=epochs, eval_interval=eval_interval, grace=grace, reduction_factor=reduction_factor)
