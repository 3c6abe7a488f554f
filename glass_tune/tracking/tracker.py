"""The tracker interface: runs as plain states, a backend that makes the tracker match them, and the
thread that keeps a tracker off the caller's path.

A backend implements :class:`Tracker`: ``sync(runs)`` creates the runs it has not seen (their ids are
recorded in the experiment folder, so a resumed search or a second ``glass-tune track`` continues the
same runs), logs params and tags not logged yet, the metric rows of steps not logged yet, the end
figures once, and sets the status. Sending the same states twice changes nothing, which is what makes
a crash, a resume or an interrupted tracker harmless: the records are sent again.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Protocol

from glass_tune.util.errors import UserError, message_line
from glass_tune.util.logs import get_logger

log = get_logger(__name__)

URI_ENV = "MLFLOW_TRACKING_URI"
STEP_KEY = "epoch"  # every metric row has it; a run's steps of this key are the steps it has logged
CLOSE_TIMEOUT_S = 60.0  # how long the end of a search waits for the tracker to catch up


class RunStatus(StrEnum):
    """A run's state in the tracker (MLflow's names)."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    KILLED = "KILLED"  # stopped early by the scheduler, or interrupted
    FAILED = "FAILED"

    @property
    def ended(self) -> bool:
        return self != RunStatus.RUNNING


@dataclass(frozen=True)
class Row:
    """The metrics one report or epoch logged at ``step`` (an epoch); ``timestamp`` in seconds, None: now."""

    step: int
    values: Mapping[str, float]
    timestamp: float | None = None


@dataclass
class RunState:
    """What a tracker should show for one run, keyed by a name stable across processes (``trial/<id>``)."""

    key: str
    name: str
    parent: str | None = None  # the key of the parent run, synced before this one
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)  # each step is logged once
    final: dict[str, float] = field(default_factory=dict)  # end figures, each key logged once
    final_step: int = 0
    status: RunStatus = RunStatus.RUNNING
    started_at: float | None = None  # seconds since the epoch (None: now)
    ended_at: float | None = None


@dataclass(frozen=True)
class TrackerSettings:
    """Where runs go: a tracking URI and the tracker's experiment name."""

    uri: str
    experiment: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "uri", self.uri.rstrip("/"))  # one server, one key in the run-id record

    @property
    def label(self) -> str:
        return f"MLflow at {self.uri} (experiment '{self.experiment}')"


class Tracker(Protocol):
    """A backend: makes the tracker's runs match ``runs`` (parents before children), idempotently."""

    label: str

    def sync(self, runs: Sequence[RunState]) -> None: ...


def tracking_uri(given: str | None) -> str | None:
    """The tracking URI a command uses: the flag, else ``MLFLOW_TRACKING_URI`` (None: no tracking)."""
    return given or os.environ.get(URI_ENV) or None


# --- failures: one warning per tracker and process, then silence --------------------------------------

_failed: set[str] = set()
_failed_lock = threading.Lock()


def has_failed(settings: TrackerSettings) -> bool:
    return settings.uri in _failed


def report_failure(settings: TrackerSettings, exc: BaseException, *, hint: str) -> None:
    """The one warning of a tracker that stopped answering; later calls to it are skipped."""
    with _failed_lock:
        if settings.uri in _failed:
            return
        _failed.add(settings.uri)
    log.warning(f"{settings.label} stopped recording ({failure_reason(exc)}); the work goes on; {hint}")


def failure_reason(exc: BaseException) -> str:
    """Why a tracker call failed, short: the OS's reason of a connection failure, else the first line."""
    found = re.search(r"\[Errno -?\d+\] ([^'\")]+)", str(exc))
    if found:
        return found.group(1).strip()
    line = message_line(exc)
    return f"{type(exc).__name__}: {line if len(line) <= 200 else line[:200] + '...'}"


class BackgroundTracker:
    """A tracker's syncs on one daemon thread, in order: the caller never waits on the network.

    The first failure is one warning and the end of tracking in this process (``hint`` says how to
    catch up afterwards); :meth:`close` waits a bounded time for the queue to drain.
    """

    def __init__(self, tracker: Tracker, *, settings: TrackerSettings, hint: str) -> None:
        self.tracker, self.settings, self.hint = tracker, settings, hint
        self._queue: queue.Queue[list[RunState] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def sync(self, runs: Sequence[RunState]) -> None:
        if has_failed(self.settings) or not runs:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="glass-tune-tracker", daemon=True)
            self._thread.start()
        # copies: the caller goes on changing its states while the thread sends them
        self._queue.put(
            [replace(r, params=dict(r.params), tags=dict(r.tags), rows=list(r.rows), final=dict(r.final)) for r in runs]
        )

    def close(self, *, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Send what is queued (at most ``timeout_s``) and stop the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            report_failure(self.settings, TimeoutError(f"not caught up after {timeout_s:.0f} s"), hint=self.hint)
        self._thread = None

    def _work(self) -> None:
        while (runs := self._queue.get()) is not None:
            if has_failed(self.settings):
                continue
            try:
                self.tracker.sync(runs)
            except Exception as exc:  # a tracker never stops the work it records
                report_failure(self.settings, exc, hint=self.hint)


def required_uri(uri: str | None) -> str:
    """The tracking URI of a command that needs one (``track``, ``--register``, ``--model``)."""
    if uri is None:
        raise UserError(f"no tracking URI: pass --mlflow URI or set {URI_ENV}")
    return uri


def require_settings(uri: str | None, *, experiment: str) -> TrackerSettings:
    return TrackerSettings(uri=required_uri(uri), experiment=experiment)
