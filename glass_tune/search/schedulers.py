"""When a search stops a trial: ASHA (or FIFO), with the grace period sized from the schedule.

Ray's ASHA judges trials after one epoch by default, while GLASS's per-epoch validation score jumps
by more than the knobs move it; here a trial is judged on a stretch of its curve.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from glass_tune.config.schema import GlassConfig
    from glass_tune.search.options import TuneOptions

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


def make_scheduler(base: GlassConfig, options: TuneOptions):
    """Ray Tune's trial scheduler for a search: ASHA on epochs, or FIFO (every trial runs to the end)."""
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    if options.scheduler != "asha":
        return FIFOScheduler()
    return ASHAScheduler(
        time_attr="epoch",
        max_t=base.epochs,
        grace_period=grace_period(epochs=base.epochs, eval_interval=base.eval_interval, explicit=options.grace_period),
        reduction_factor=options.reduction_factor,
    )
