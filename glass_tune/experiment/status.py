"""``glass-tune status EXPERIMENT``: where a search stands, read-only, during or after it.

Reads only what Ray and glass-tune already keep in the experiment storage (Ray's experiment state,
search.yaml, best configs), opened through ``glass_tune.experiment.view`` and the storage layer, so it
works on a local folder, a shared mount or ``s3://`` and never disturbs a running driver.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from glass_tune.experiment.best_config import BEST_CONFIG_FILE
from glass_tune.experiment.confirmation import CONFIRM_DIR, read_confirmation, read_finalists
from glass_tune.experiment.outcomes import Outcome
from glass_tune.experiment.protocol import Objective
from glass_tune.experiment.results import best_trial, is_category_dir, load_trials
from glass_tune.experiment.search_record import record_time
from glass_tune.experiment.storage import Location
from glass_tune.experiment.view import open_experiment
from glass_tune.util.numbers import value_text


@dataclass
class CategoryStatus:
    """Counts of one category's trials by what happened to them, and the best so far."""

    category: str
    state: str  # not started | running | confirming | finished
    samples: int
    pending: int = 0
    running: int = 0
    finished: int = 0
    stopped: int = 0
    errored: int = 0
    best_value: float | None = None
    best_trial: str | None = None
    errors: list[str] = field(default_factory=list)
    last_report: float | None = None  # unix time of the newest result
    confirmation: CategoryStatus | None = None  # the confirmation run's counts, once it has started
    finalists: list[str] = field(default_factory=list)
    verdict: str | None = None


@dataclass
class ExperimentStatus:
    experiment: str
    objective: Objective
    started: float | None
    categories: list[CategoryStatus]

    @property
    def elapsed(self) -> float | None:
        """Seconds since the search started (until its last result once every category finished)."""
        if self.started is None:
            return None
        if all(c.state == "finished" for c in self.categories):
            ends = [c.last_report for c in self.categories if c.last_report is not None]
            return (max(ends) if ends else time.time()) - self.started
        return time.time() - self.started


def category_status(*, category_dir: Location, objective: Objective, samples: int) -> CategoryStatus:
    """One category's status from Ray's experiment state (None-safe while the search starts up),
    with its confirmation stage's counts and verdict when it has one."""
    out = _trial_counts(category_dir=category_dir, objective=objective, samples=samples)
    recorded = read_finalists(category_dir)
    if recorded is not None:
        finalists, seeds = recorded
        out.state = "confirming"
        out.finalists = [f.name for f in finalists]
        folder = category_dir / CONFIRM_DIR
        total = len(finalists) * len(seeds)
        if is_category_dir(location=folder):
            out.confirmation = _trial_counts(category_dir=folder, objective=objective, samples=total)
            stamps = [s for s in (out.last_report, out.confirmation.last_report) if s is not None]
            out.last_report = max(stamps) if stamps else None
        else:
            out.confirmation = CategoryStatus(category=out.category, state="not started", samples=total)
        out.verdict = (read_confirmation(category_dir) or {}).get("line")
    if (category_dir / BEST_CONFIG_FILE).is_file():
        out.state = "finished"
    return out


def _trial_counts(*, category_dir: Location, objective: Objective, samples: int) -> CategoryStatus:
    out = CategoryStatus(category=category_dir.name, state="running", samples=samples)
    trials = load_trials(category_dir=category_dir)
    for t in trials:
        outcome = t.outcome
        out.running += outcome == Outcome.RUNNING
        out.pending += outcome == Outcome.PENDING
        out.stopped += outcome == Outcome.STOPPED
        out.finished += outcome == Outcome.COMPLETED
        if outcome == Outcome.ERRORED:
            out.errored += 1
            out.errors.append(f"{t.trial_id}: {t.error}")
    best = best_trial((t for t in trials if t.error is None), objective=objective)
    if best is not None:
        out.best_value, out.best_trial = float(best.last_result[objective.metric]), best.trial_id
    stamps = [t.last_result["timestamp"] for t in trials if "timestamp" in t.last_result]
    out.last_report = max(stamps) if stamps else None
    return out


def experiment_status(*, experiment: str) -> ExperimentStatus:
    """Status of every category of an experiment (a local path or a storage URI, or one of its category folders)."""
    view = open_experiment(experiment)
    samples = int(view.record.get("options", {}).get("samples", 0))
    present = {d.name: d for d in view.categories()}
    statuses = []
    for name in view.record.get("categories", []):
        if name in present:
            statuses.append(category_status(category_dir=present[name], objective=view.objective, samples=samples))
        else:
            statuses.append(CategoryStatus(category=name, state="not started", samples=samples))
    started = record_time(view.record.get("started_at"))
    return ExperimentStatus(experiment=str(view.location), objective=view.objective, started=started, categories=statuses)


def _duration(seconds: float | None) -> str:
    if seconds is None or math.isnan(seconds):
        return "unknown"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def format_status(status: ExperimentStatus) -> str:
    """A few lines per experiment: one per category, then each errored trial's reason."""
    lines = [f"{status.experiment}: {status.objective.metric} ({status.objective.mode}), elapsed {_duration(status.elapsed)}"]
    for c in status.categories:
        best: Any = f"{value_text(c.best_value, missing='nan')} ({c.best_trial})" if c.best_value is not None else "n/a"
        lines.append(
            f"[{c.category}] {c.state}: {c.running} running, {c.pending} pending, {c.finished} finished, "
            f"{c.stopped} stopped early, {c.errored} errored of {c.samples} | best {best}"
        )
        lines.extend(f"[{c.category}] errored trial {e}" for e in c.errors)
        if c.confirmation is not None:
            k = c.confirmation
            lines.append(
                f"[{c.category}] confirmation of {', '.join(c.finalists)}: {k.running} running, {k.pending} pending, "
                f"{k.finished} finished, {k.errored} errored of {k.samples}"
            )
            lines.extend(f"[{c.category}] errored confirmation trial {e}" for e in k.errors)
        if c.verdict is not None:
            lines.append(f"[{c.category}] verdict: {c.verdict}")
    return "\n".join(lines)
