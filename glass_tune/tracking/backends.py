"""Which backend a tracker's settings get (MLflow, the one there is): the one place a second tracker is added."""

from __future__ import annotations

from typing import TYPE_CHECKING

from glass_tune.tracking.mlflow_tracker import MlflowTracker, check
from glass_tune.tracking.tracker import Tracker, TrackerSettings

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location


def open_tracker(settings: TrackerSettings, *, record_dir: Location) -> Tracker:
    """The backend for ``settings``; run ids are recorded in ``record_dir`` (a category or a train run)."""
    return MlflowTracker(settings, record_dir=record_dir)


def check_tracker(settings: TrackerSettings) -> None:
    """Fail in seconds with one line when the tracker does not answer (before anything starts)."""
    check(settings)
