"""How a trial ended: Ray's trial status read once, into the outcome that readers (status, progress, report) name.

Ray Tune's ``Trial.status`` strings (``ray.tune.experiment.trial.Trial.PENDING`` ... ``ERROR``;
unchanged from Ray 2.0 to 2.60) appear nowhere else in glass-tune: compare with :class:`RayStatus`.
A finished trial that reported fewer epochs than it was given was stopped early by the scheduler.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class RayStatus(StrEnum):
    """Ray Tune's trial statuses (equal to the plain strings Ray stores)."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    TERMINATED = "TERMINATED"
    ERROR = "ERROR"


class Outcome(StrEnum):
    """How a trial ended (or that it has not), as the status lines, the report and the plots name it."""

    COMPLETED = "completed"
    STOPPED = "stopped early"
    ERRORED = "errored"
    RUNNING = "running"
    PENDING = "pending"  # also Ray's PAUSED: waiting for resources

    @property
    def finished(self) -> bool:
        """Whether the trial will not run again (completed, stopped early or errored)."""
        return self in (Outcome.COMPLETED, Outcome.STOPPED, Outcome.ERRORED)


def stopped_early(*, last_result: Mapping[str, Any] | None, config: Mapping[str, Any]) -> bool:
    """A trial stopped early ended before its last epoch (the scheduler's decision, not an error)."""
    return (last_result or {}).get("epoch", 0) < config.get("epochs", 0)


def trial_outcome(status: str, *, last_result: Mapping[str, Any] | None, config: Mapping[str, Any]) -> Outcome:
    """The outcome of a Ray trial from its status, last report and config."""
    if status == RayStatus.ERROR:
        return Outcome.ERRORED
    if status == RayStatus.TERMINATED:
        return Outcome.STOPPED if stopped_early(last_result=last_result, config=config) else Outcome.COMPLETED
    return Outcome.RUNNING if status == RayStatus.RUNNING else Outcome.PENDING
