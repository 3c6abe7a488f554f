"""The driver's one stream of trial events, and the sinks that keep a search's record from it.

Ray calls a Tune callback on the driver for every trial start, report, checkpoint, completion and
error. :class:`TrialEvents` turns those calls into plain :class:`TrialEvent` values and, every few
seconds and once at the end, hands the events buffered since the last flush to each sink together
with every trial's current :class:`~glass_tune.experiment.trial_index.TrialRecord`. Sinks batch what
they write (one index write, one tracker request per flush), never run on a trial's path, and a sink
that fails is reported once and skipped: a record keeper never stops a search.

The first sink is the trial index (``trials.json``), what every read-only command reads instead of
Ray's pickled state.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from ray.tune import Callback

from glass_tune.experiment.outcomes import RayStatus
from glass_tune.experiment.storage import resolve
from glass_tune.experiment.trial_index import TrialRecord, error_line, plain, report_row, write_trial_index
from glass_tune.search.ray_internals import best_checkpoint_result
from glass_tune.util.logs import get_logger

log = get_logger(__name__)

FLUSH_PERIOD_S = 3.0  # how stale a running search's records may be (status reads the index)


class EventKind(StrEnum):
    STARTED = "started"
    RESULT = "result"
    CHECKPOINT = "checkpoint"
    COMPLETED = "completed"  # finished or stopped by the scheduler (the record's outcome says which)
    ERRORED = "errored"


@dataclass(frozen=True)
class TrialEvent:
    """One thing that happened to a trial; ``result`` is the report of a RESULT event."""

    kind: EventKind
    trial_id: str
    result: Mapping[str, Any] | None = None


class TrialSink(Protocol):
    """What consumes the stream: called with the events since the last flush and every trial's record."""

    name: str

    def flush(self, events: Sequence[TrialEvent], records: Sequence[TrialRecord], *, final: bool) -> None: ...


class TrialIndexSink:
    """Writes ``<folder>/index/trials.json`` whenever something changed (and always at the end)."""

    name = "trial index"

    def __init__(self, folder_uri: str) -> None:
        self.folder_uri = folder_uri  # a string, not a Location: Ray pickles callbacks with its state

    def flush(self, events: Sequence[TrialEvent], records: Sequence[TrialRecord], *, final: bool) -> None:
        write_trial_index(resolve(self.folder_uri), records)


class TrialEvents(Callback):
    """Ray's trial callbacks as one plain, batched event stream for ``sinks``.

    Records are built from Ray's live trials at flush time (after Ray has updated their status), so a
    restored search's records are complete from its first flush.
    """

    def __init__(self, *, metric: str, mode: str, sinks: Sequence[TrialSink], period_s: float = FLUSH_PERIOD_S) -> None:
        self.metric, self.mode = metric, mode
        self.sinks = list(sinks)
        self.period_s = period_s
        self._reset()

    def _reset(self) -> None:
        self._events: list[TrialEvent] = []
        self._dirty = True  # a new or restored run writes its records once at its first step
        self._last_flush = -math.inf
        self._failed: set[str] = set()
        self._ended: dict[str, TrialRecord] = {}  # records of trials Ray will not touch again

    def __getstate__(self) -> dict[str, Any]:
        # Pickled with Ray's experiment state: buffers and failures belong to one driver's run.
        return {"metric": self.metric, "mode": self.mode, "sinks": self.sinks, "period_s": self.period_s}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset()

    # --- Ray's hooks -----------------------------------------------------------------------------

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._add(TrialEvent(EventKind.STARTED, trial.trial_id))

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict, **info: Any) -> None:
        self._add(TrialEvent(EventKind.RESULT, trial.trial_id, plain(report_row(result))))

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        self._add(TrialEvent(EventKind.CHECKPOINT, trial.trial_id))

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._add(TrialEvent(EventKind.COMPLETED, trial.trial_id))

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._add(TrialEvent(EventKind.ERRORED, trial.trial_id))

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        if self._dirty and time.monotonic() - self._last_flush >= self.period_s:
            self._flush(trials, final=False)

    def on_experiment_end(self, trials: list, **info: Any) -> None:
        self._flush(trials, final=True)

    # --- the stream ------------------------------------------------------------------------------

    def _add(self, event: TrialEvent) -> None:
        self._events.append(event)
        self._dirty = True

    def _flush(self, trials: Sequence[Any], *, final: bool) -> None:
        events, self._events = self._events, []
        self._dirty, self._last_flush = False, time.monotonic()
        records = [self._ended.get(t.trial_id) or self._current(t) for t in trials]
        for sink in self.sinks:
            if sink.name in self._failed:
                continue
            try:
                sink.flush(events, records, final=final)
            except Exception as exc:  # a record keeper never stops the search
                self._failed.add(sink.name)
                log.warning(f"warning: {sink.name} stopped recording this search ({type(exc).__name__}: {exc})")

    def _current(self, trial: Any) -> TrialRecord:
        """A trial's record now; one that ended is kept, so a flush builds only the live trials' records
        (the rest never change, and thousands of them would otherwise be rebuilt every few seconds)."""
        record = self.record(trial)
        if record.status in (RayStatus.TERMINATED, RayStatus.ERROR):
            self._ended[record.trial_id] = record
        return record

    def record(self, trial: Any) -> TrialRecord:
        """A live Ray trial as a plain record (its best checkpoint relative to the category folder)."""
        folder = trial.storage.trial_dir_name
        error = live_error_line(trial) if trial.status == RayStatus.ERROR else None
        best = None if error else best_checkpoint_result(trial, metric=self.metric, mode=self.mode)
        return TrialRecord(
            trial_id=trial.trial_id,
            status=str(trial.status),
            config=plain(trial.config),
            last_result=plain(report_row(trial.last_result or {})),
            error=error,
            checkpoint=None if best is None else f"{folder}/{best.checkpoint.path.rstrip('/').rsplit('/', 1)[-1]}",
            folder=folder,
        )


def live_error_line(trial: Any) -> str:
    """A live trial's error in one line, from the text Ray writes into its staging folder on the driver
    (Ray also pickles the exception beside it: that file is never read)."""
    text = None
    if trial.error_file:
        try:
            with open(trial.error_file, encoding="utf-8", errors="replace") as fh:
                text = fh.read()
        except OSError:
            pass
    return error_line(text)
