"""How many trials Ray Tune may hold pending at once: as many as the cluster has trial slots.

Ray Tune starts a trial only once its placement group is pending, and for any searcher but its own
random/grid generator it keeps at most ONE pending (unless ``--max-concurrent`` wraps the searcher
in a ``ConcurrencyLimiter``). Slots then fill at one trial per trial start-up: measured on a head
declaring 8 CPUs and 2 GPUs with ``--gpus-per-trial 0.25``, every progress line said "1 running".
Ray reads ``TUNE_MAX_PENDING_TRIALS_PG`` (a documented setting) when each Tune run starts; the
driver sets it to the slots the cluster has for one trial's resources, so a free slot never waits
for the previous start-up, while Optuna is not asked for more suggestions than can run (each one
asked early is one suggestion made without the results still to come). A value the user set wins.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

PENDING_ENV = "TUNE_MAX_PENDING_TRIALS_PG"


def cluster_slots(resources: Mapping[str, float], *, cpus_per_trial: float, gpus_per_trial: float) -> int:
    """Trials the cluster's resources fit at once (at least 1: a cluster that fits none is refused elsewhere)."""
    fits = [math.floor(resources.get("CPU", 0.0) / cpus_per_trial + 1e-9)] if cpus_per_trial > 0 else []
    if gpus_per_trial > 0:
        fits.append(math.floor(resources.get("GPU", 0.0) / gpus_per_trial + 1e-9))  # 2 / 0.25 = 8, not 7.99
    return max(1, min(fits, default=1))


def pending_limit(slots: int, *, samples: int, max_concurrent: int | None, max_concurrent_total: int | None) -> int:
    """Pending trials per Tune run: the slots, never more than its trials or a concurrency limit."""
    return max(1, min(slots, samples, max_concurrent or slots, max_concurrent_total or slots))


def allow_pending(limit: int) -> str:
    """Set Ray's pending-trial limit for this driver unless the user set one; returns the one in force."""
    return os.environ.setdefault(PENDING_ENV, str(limit))
