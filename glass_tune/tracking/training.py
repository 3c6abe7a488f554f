"""``glass-tune train --mlflow``: one training run as one tracker run, logged like a search trial.

A training callback builds the run's state (the resolved config as params, each epoch's row stepped
by epoch, the held-out figures and thresholds at the end) and hands it to the tracker's own thread,
so a slow or absent tracker never slows training. The run id is kept in ``<out>/tracking/mlflow.json``:
``train --resume`` continues the same run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from glass_tune.experiment.protocol import held_out_report, thresholds_report
from glass_tune.experiment.storage import resolve
from glass_tune.tracking.backends import check_tracker, open_tracker
from glass_tune.tracking.records import numeric, report_rows, training_run
from glass_tune.tracking.tracker import (
    BackgroundTracker,
    RunState,
    RunStatus,
    TrackerSettings,
    tracking_uri,
)
from glass_tune.training.loop import Callback, EpochRecord, FitResult, TrainingRun
from glass_tune.util.errors import message_line


def training_tracker(*, uri: str | None, experiment: str | None, category: str) -> TrackerSettings | None:
    """The tracker of a training run (None: not tracked), checked before anything starts: the flag,
    else ``MLFLOW_TRACKING_URI``; the MLflow experiment ``experiment``, else ``train-<category>``."""
    uri = tracking_uri(uri)
    if uri is None:
        return None
    settings = TrackerSettings(uri=uri, experiment=experiment or f"train-{category}")
    check_tracker(settings)
    return settings


class TrainingTracking(Callback):
    """Feeds one training run's epochs and outcome to a tracker."""

    def __init__(self, settings: TrackerSettings, *, out_dir: Path) -> None:
        self.settings, self.out_dir = settings, out_dir
        hint = f"the run's files in {out_dir} stay complete"
        self.tracker = BackgroundTracker(open_tracker(settings, record_dir=resolve(str(out_dir))), settings=settings, hint=hint)
        self.state: RunState | None = None

    def on_fit_start(self, run: TrainingRun) -> None:
        self.state = training_run(name=self.out_dir.name, config=run.config.to_dict(), out_dir=str(self.out_dir))
        self.state.rows = report_rows(run.history)  # a resumed run's epochs so far
        self._send()

    def on_epoch_end(self, record: EpochRecord, run: TrainingRun) -> None:
        row = record.row()
        if record.best_epoch:
            row.update(best_score=record.best_score, best_epoch=record.best_epoch)
        assert self.state is not None
        self.state.rows = report_rows([row])
        self._send()

    def on_fit_end(self, result: FitResult, run: TrainingRun) -> None:
        assert self.state is not None
        self.state.rows = []
        figures: dict[str, Any] = {**held_out_report(result.test), **thresholds_report(result.thresholds)}
        self.state.final = {k: float(v) for k, v in figures.items() if numeric(v)}
        self.state.final_step = int(result.best.get("epoch") or 0)
        self.state.tags.update({k: v for k, v in figures.items() if isinstance(v, str)})
        self.end(RunStatus.FINISHED)

    def end(self, status: RunStatus, *, reason: str | None = None) -> None:
        """Close the run (and wait, boundedly, for the tracker to catch up)."""
        if self.state is None:
            return
        self.state.status = status
        if reason:
            self.state.tags["end_reason"] = reason
        self._send()
        self.tracker.close()
        self.state = None

    def _send(self) -> None:
        assert self.state is not None
        self.tracker.sync([self.state])


@contextlib.contextmanager
def tracked_training(settings: TrackerSettings | None, *, out_dir: Path) -> Iterator[list[Callback]]:
    """The callbacks that track a training run (none without ``settings``); a run that raises ends
    FAILED with its reason (KILLED on Ctrl-C)."""
    if settings is None:
        yield []
        return
    callback = TrainingTracking(settings, out_dir=out_dir)
    try:
        yield [callback]
    except KeyboardInterrupt:
        callback.end(RunStatus.KILLED, reason="interrupted; train --resume continues it")
        raise
    except Exception as exc:
        callback.end(RunStatus.FAILED, reason=f"{type(exc).__name__}: {message_line(exc)}")
        raise
