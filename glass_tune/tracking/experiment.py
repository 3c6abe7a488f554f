"""An experiment's plain records into a tracker: ``glass-tune track`` and the end of a category's search.

Both send everything the records hold (the parent run, every trial with its whole history, the
confirmation runs) and the tracker logs only what it lacks, so tracking a finished, interrupted or
pre-tracking experiment, or tracking it twice, leaves one run per trial with its complete history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from glass_tune.experiment.view import ExperimentView, open_experiment
from glass_tune.tracking.backends import check_tracker, open_tracker
from glass_tune.tracking.records import category_runs
from glass_tune.tracking.tracker import (
    TrackerSettings,
    has_failed,
    report_failure,
    require_settings,
    tracking_uri,
)

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location


@dataclass(frozen=True)
class TrackedCategory:
    category: str
    runs: int
    status: str  # the parent run's


def recorded_settings(view: ExperimentView, *, uri: str | None, experiment: str | None) -> TrackerSettings:
    """The tracker of an experiment: the flags, else ``MLFLOW_TRACKING_URI``, else what its search recorded."""
    options = view.record.get("options") or {}
    return require_settings(
        tracking_uri(uri) or options.get("mlflow"),
        experiment=experiment or options.get("mlflow_experiment") or view.name,
    )


def registry_settings(*, experiment: str, uri: str | None, mlflow_experiment: str | None) -> TrackerSettings:
    """The tracker ``export --register`` registers into (as ``track`` finds it)."""
    return recorded_settings(open_experiment(experiment), uri=uri, experiment=mlflow_experiment)


def track_category(view: ExperimentView, category_dir: Location, *, settings: TrackerSettings) -> TrackedCategory:
    """Bring the tracker up to date with one category's records (synchronously; errors propagate)."""
    runs = category_runs(view, category_dir)
    open_tracker(settings, record_dir=category_dir).sync(runs)
    return TrackedCategory(category_dir.name, len(runs), str(runs[0].status))


def track_experiment(*, experiment: str, uri: str | None = None, mlflow_experiment: str | None = None) -> list[TrackedCategory]:
    """``glass-tune track``: every category of a finished or interrupted experiment, from its plain records."""
    view = open_experiment(experiment)
    settings = recorded_settings(view, uri=uri, experiment=mlflow_experiment)
    check_tracker(settings)
    return [track_category(view, d, settings=settings) for d in view.categories()]


def finish_category(category_dir: Location, *, settings: TrackerSettings) -> None:
    """The end of a category's search in the tracker: the parent's outcome, every run closed.

    Never fatal: a tracker that fails is one warning (once per process), and ``glass-tune track``
    completes the runs afterwards.
    """
    experiment = category_dir.parent
    if has_failed(settings):
        return
    try:
        track_category(open_experiment(experiment.uri), category_dir, settings=settings)
    except Exception as exc:  # a tracker never stops the search
        report_failure(settings, exc, hint=catch_up_hint(experiment))


def catch_up_hint(experiment: Location) -> str:
    """What a warning about a failed tracker tells the user to run."""
    return f"bring it up to date afterwards with: glass-tune track {experiment.uri}"
