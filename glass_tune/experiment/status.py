"""``glass-tune status EXPERIMENT``: where a search stands, read-only, during or after it.

Reads only what Ray and glass-tune already keep in the experiment storage (Ray's experiment state,
search.yaml, best configs), through the storage layer, so it works on a local folder, a shared
mount or ``s3://`` and never disturbs a running driver.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from glass_tune.experiment.outcomes import Outcome
from glass_tune.experiment.results import (
    BEST_CONFIG_FILE,
    Objective,
    best_trial,
    category_dirs,
    experiment_objective,
    load_trials,
    read_search_record,
    record_time,
)
from glass_tune.experiment.storage import Location, resolve
from glass_tune.util.errors import UserError
from glass_tune.util.numbers import value_text


@dataclass
class CategoryStatus:
    """Counts of one category's trials by what happened to them, and the best so far."""

    category: str
    state: str  # not started | running | finished
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
    """One category's status from Ray's experiment state (None-safe while the search starts up)."""
    out = CategoryStatus(category=category_dir.name, state="running", samples=samples)
    trials = load_trials(category_dir=category_dir, objective=objective)
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
    if (category_dir / BEST_CONFIG_FILE).is_file():
        out.state = "finished"
    return out


def experiment_status(*, experiment: str) -> ExperimentStatus:
    """Status of every category of an experiment (a local path or a storage URI)."""
    location = resolve(experiment)
    if not location.is_dir():
        raise UserError(f"{experiment}: no such experiment")
    record = read_search_record(experiment=location)
    objective = experiment_objective(experiment=location)
    samples = int(record.get("options", {}).get("samples", 0))
    started = record_time(record.get("started_at"))
    present = {d.name: d for d in category_dirs(experiment=location)}
    statuses = []
    for name in record.get("categories", []):
        if name in present:
            statuses.append(category_status(category_dir=present[name], objective=objective, samples=samples))
        else:
            statuses.append(CategoryStatus(category=name, state="not started", samples=samples))
    return ExperimentStatus(experiment=str(location), objective=objective, started=started, categories=statuses)


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
    return "\n".join(lines)
