"""The search's live feed to a tracker: a sink of the driver's trial event stream (``trial_events``).

At each flush the sink turns the trials that changed into run states (``glass_tune.tracking.records``)
and hands them to the tracker's own thread: the driver never waits on the network, trials never see
the tracker, and a tracker that stops answering is one warning while the search goes on. The end of a
category (:func:`finish_tracking`) and ``glass-tune track`` send the plain records again, which fills
whatever the feed missed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from glass_tune.experiment.confirmation import CONFIRM_DIR
from glass_tune.experiment.storage import resolve
from glass_tune.tracking.backends import check_tracker, open_tracker
from glass_tune.tracking.tracker import BackgroundTracker, TrackerSettings

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location
    from glass_tune.experiment.trial_index import TrialRecord
    from glass_tune.experiment.view import ExperimentView
    from glass_tune.search.options import TuneOptions
    from glass_tune.search.trial_events import TrialEvent


def tracker_settings(options: TuneOptions) -> TrackerSettings | None:
    """The search's tracker (None: not tracked): ``--mlflow``, in the experiment ``--mlflow-experiment`` or its name."""
    if options.mlflow is None:
        return None
    return TrackerSettings(uri=options.mlflow, experiment=options.mlflow_experiment or options.name)


def check_tracking(options: TuneOptions) -> None:
    """Before anything starts: a tracking URI that does not answer is one line and exit 2."""
    settings = tracker_settings(options)
    if settings is not None:
        check_tracker(settings)


def tracking_sinks(folder: Location, options: TuneOptions) -> list[TrackingSink]:
    """The tracker sink of one Ray run's stream (a category or its confirm/ folder), if the search is tracked."""
    settings = tracker_settings(options)
    return [] if settings is None else [TrackingSink(folder_uri=folder.uri, settings=settings)]


def finish_tracking(category_dir: Location, options: TuneOptions) -> None:
    """A category's search has ended: its parent's outcome and every run closed (never fatal)."""
    from glass_tune.tracking.experiment import finish_category

    settings = tracker_settings(options)
    if settings is not None:
        finish_category(category_dir, settings=settings)


class TrackingSink:
    """Sends the trials that changed since the last flush; at the end every trial, closed or marked
    interrupted. Picklable (Ray pickles callbacks): only strings until the first flush."""

    def __init__(self, *, folder_uri: str, settings: TrackerSettings) -> None:
        self.folder_uri, self.settings = folder_uri, settings
        self.name = settings.label
        self._reset()

    def _reset(self) -> None:
        self._tracker: BackgroundTracker | None = None
        self._view: ExperimentView | None = None
        self._statuses: dict[str, str] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {"folder_uri": self.folder_uri, "settings": self.settings, "name": self.name}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    def flush(self, events: Sequence[TrialEvent], records: Sequence[TrialRecord], *, final: bool) -> None:
        from glass_tune.experiment.view import open_experiment
        from glass_tune.search.trial_events import EventKind
        from glass_tune.tracking.experiment import catch_up_hint
        from glass_tune.tracking.records import category_run, started, trial_run

        folder = resolve(self.folder_uri)
        confirm = folder.name == CONFIRM_DIR
        category_dir = folder.parent if confirm else folder
        if self._tracker is None:
            self._view = open_experiment(category_dir.parent.uri)
            tracker = open_tracker(self.settings, record_dir=category_dir)
            self._tracker = BackgroundTracker(tracker, settings=self.settings, hint=catch_up_hint(category_dir.parent))
        assert self._view is not None
        reports: dict[str, list[dict[str, Any]]] = {}
        for event in events:
            if event.kind == EventKind.RESULT and event.result is not None:
                reports.setdefault(event.trial_id, []).append(dict(event.result))
        touched = {e.trial_id for e in events}
        changed = [
            r for r in records if started(r) and (final or r.trial_id in touched or self._statuses.get(r.trial_id) != r.status)
        ]
        self._statuses.update({r.trial_id: r.status for r in records})
        interrupted = final and any(not r.outcome.finished for r in records)
        parent = category_run(self._view, category_dir, trials=[] if confirm else records, ended=interrupted)
        runs = [
            trial_run(
                r, reports=reports.get(r.trial_id, []), category=category_dir.name, confirm=confirm, interrupted=interrupted
            )
            for r in changed
        ]
        self._tracker.sync([parent, *runs])
        if final:
            self._tracker.close()
