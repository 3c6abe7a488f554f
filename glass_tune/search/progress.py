"""One readable line per event while a search runs, instead of Ray's full status tables."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import Any

from ray.tune import Callback

from glass_tune.experiment.outcomes import Outcome, RayStatus, trial_outcome
from glass_tune.experiment.protocol import Objective
from glass_tune.search.trial_events import live_error_line
from glass_tune.util.logs import get_logger

log = get_logger(__name__)

_STARTED: dict[str, threading.Event] = {}


def started_event(category: str) -> threading.Event:
    """Set once the category's Tune run is set up (its trainable registered, its controller built)."""
    return _STARTED.setdefault(category, threading.Event())


_SETUP = threading.Lock()


def fit_in_turn(make: Callable[[], Any], label: str) -> Any:
    """``make().fit()`` once no other Tune run of this driver is being set up.

    Ray's trainable registry is not thread-safe: the concurrent category searches (and their
    confirmation runs, which start whenever a search ends) set up one at a time; the turn passes
    on when this run's :class:`ProgressCallback` is set up, or when it ends.
    """
    started = started_event(label)
    started.clear()
    _SETUP.acquire()
    threading.Thread(target=_release_when, args=(started,), name=f"setup-{label}", daemon=True).start()
    try:
        return make().fit()
    finally:
        started.set()


def _release_when(started: threading.Event) -> None:
    started.wait()
    _SETUP.release()


class ProgressCallback(Callback):
    """Prints trial results, completions and errors with running/done/stopped counts and the best so far."""

    def __init__(self, *, category: str, samples: int, objective: Objective) -> None:
        # No stream attribute: Ray pickles callbacks with the experiment state; stdout is looked up per line.
        self.category = category
        self.samples = samples
        self.objective = objective
        self.best: tuple[float, str] | None = None

    def setup(self, **info: Any) -> None:
        started_event(self.category).set()

    def _status(self, trials: list[Any], current: Any = None, now: str | None = None) -> str:
        """Counts by status; ``current`` is reported as ``now`` (Ray updates its status after the hook)."""
        outcomes = [
            _outcome(t, now if current is not None and now is not None and t.trial_id == current.trial_id else t.status)
            for t in trials
        ]
        count = {o: outcomes.count(o) for o in Outcome}
        best = f"best {self.best[0]:.4f} ({self.best[1]})" if self.best else "best n/a"
        return (
            f"{count[Outcome.RUNNING]} running, {count[Outcome.COMPLETED]} done, {count[Outcome.STOPPED]} stopped early, "
            f"{count[Outcome.ERRORED]} errored of {self.samples} | {best}"
        )

    def _say(self, text: str) -> None:
        log.info(f"[tune {self.category}] {text}")

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        value = result.get(self.objective.metric)
        if value is not None and not math.isnan(value):
            if self.best is None or self.objective.better(value, self.best[0]):
                self.best = (float(value), trial.trial_id)
        self._say(
            f"{trial.trial_id} epoch {result.get('epoch')}: score {result.get('score', math.nan):.4f} "
            f"(trial best {value if value is not None else math.nan:.4f}) | {self._status(trials)}"
        )

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        stopped = _outcome(trial, RayStatus.TERMINATED) == Outcome.STOPPED
        how = "stopped early by the scheduler" if stopped else "finished"
        self._say(f"{trial.trial_id} {how} | {self._status(trials, trial, RayStatus.TERMINATED)}")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._say(f"{trial.trial_id} ERRORED: {live_error_line(trial)} | {self._status(trials, trial, RayStatus.ERROR)}")


def _outcome(trial: Any, status: str) -> Outcome:
    """A live Ray trial's outcome had it ``status``."""
    return trial_outcome(status, last_result=trial.last_result, config=trial.config)
