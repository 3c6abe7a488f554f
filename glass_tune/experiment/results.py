"""The one home for search results: what a trial reported, how trials are judged and summarised.

The tuner, the progress lines, ``export``, ``status`` and the HTML report all read results through
this module, so the metric name, the stopped-early rule, the one-line error and the best-trial
choice exist once.  Trials are read from glass-tune's plain trial index (:mod:`glass_tune.experiment.trial_index`,
never Ray's pickled state) over the experiment's ``pyarrow`` filesystem, so a local folder, a shared
mount and ``s3://`` read alike, and nothing depends on a trial folder on some node (held-out figures
travel in the last report).
"""

from __future__ import annotations

import csv
import io
import json
import math
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from glass_tune.experiment.intervals import finalists_table
from glass_tune.experiment.legacy_trials import STATE_PREFIX, read_legacy_trials
from glass_tune.experiment.protocol import (
    CHECKPOINT_FILE,
    DECISION_KEYS,
    HELD_OUT_KEYS,
    Objective,
    best_of,
    held_out_of,
)
from glass_tune.experiment.trial_index import INDEX_DIR, TrialRecord, read_history, read_trial_index
from glass_tune.util.legacy_names import moved_names
from glass_tune.util.numbers import value_text

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location

SUMMARY_CSV, SUMMARY_MD = "summary.csv", "summary.md"
__getattr__ = moved_names(__name__)  # Objective, pickled here by experiments before it moved (util/legacy_names.py)


@dataclass
class CategoryOutcome:
    """The result of one category's search, as the summary and the export need it."""

    category: str
    best_trial: str | None
    best: dict[str, Any]
    params: dict[str, Any]
    trials: int
    stopped_early: int
    errors: list[str] = field(default_factory=list)
    best_config_path: str | None = None
    held_out: dict[str, float] | None = None
    confirmation: dict[str, Any] | None = None  # confirmation.json (glass_tune.experiment.confirmation)

    @property
    def verdict(self) -> str | None:
        """The confirmation's one-line verdict against the paper default (None without one)."""
        return None if self.confirmation is None else self.confirmation.get("line")

    @property
    def exported(self) -> str | None:
        """Which configuration the export holds: the confirmation's choice, else the best search trial."""
        return self.best_trial if self.confirmation is None else self.confirmation.get("exported")


def study_name(experiment_name: str, category: str) -> str:
    """The Optuna study of one category of an experiment (the driver creates it, readers open it)."""
    return f"{experiment_name}/{category}"


def is_category_dir(*, location: Location) -> bool:
    """Whether a folder holds one category's search (its trial index, or Ray's state of an older one)."""
    import pyarrow.fs as pafs

    infos = location.fs.get_file_info(pafs.FileSelector(location.path, recursive=False, allow_not_found=True))
    names = {posixpath.basename(i.path) for i in infos}
    return INDEX_DIR in names or any(n.startswith(STATE_PREFIX) for n in names)


def category_dirs(*, experiment: Location) -> list[Location]:
    """The category searches of an experiment, by name."""
    return [d for d in experiment.subdirs() if is_category_dir(location=d)]


def held_out_figures(*, last_result: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The held-out test figures of the selected epoch, from the final report (None if it never came)."""
    return held_out_of(last_result)


def best_trial(trials: Iterable[TrialRecord], *, objective: Objective) -> TrialRecord | None:
    """The best trial by its last reported objective value; trials without a finite one never win."""
    best: TrialRecord | None = None
    for t in trials:
        value = t.last_result.get(objective.metric)
        if not isinstance(value, (int, float)) or math.isnan(value):
            continue
        if best is None or objective.better(value, best.last_result[objective.metric]):
            best = t
    return best


def summarize(trials: Sequence[TrialRecord], *, category: str, objective: Objective) -> CategoryOutcome:
    """Best trial, counts of early-stopped and errored trials."""
    errors = [f"{t.trial_id}: {t.error}" for t in trials if t.error is not None]
    finished = [t for t in trials if t.error is None]
    stopped = sum(1 for t in finished if t.stopped_early)
    best = best_trial(finished, objective=objective)
    if best is None:
        return CategoryOutcome(category, None, {}, {}, len(trials), stopped, errors)
    return CategoryOutcome(
        category=category,
        best_trial=best.trial_id,
        best=best_of(best.last_result),
        params=best.params,
        trials=len(trials),
        stopped_early=stopped,
        errors=errors,
        held_out=best.held_out,
    )


def load_trials(*, category_dir: Location, with_history: bool = False) -> list[TrialRecord]:
    """Every trial of one category's search (during or after it), from glass-tune's plain records.

    The trial index the driver writes; for a search from before the index, the plain parts of Ray's
    state (:mod:`glass_tune.experiment.legacy_trials`). Ray's pickled state is never loaded here.
    ``with_history`` adds each trial's reported rows (epoch, metrics) for plots.
    """
    records = read_trial_index(category_dir)
    if records is None:
        records = read_legacy_trials(category_dir)
    if with_history:
        for record in records:
            record.history = read_history(category_dir, record.folder)
    return records


def trial_held_out(*, trial: TrialRecord, category_dir: Location) -> dict[str, float] | None:
    """Held-out figures from the final report, or from ``run/metrics.json`` for older experiments."""
    if trial.held_out is not None or trial.folder is None:
        return trial.held_out
    metrics = category_dir / trial.folder / "run" / "metrics.json"
    if not metrics.is_file():
        return None
    return json.loads(metrics.read_text()).get("test")


def checkpoint_file(*, trial: TrialRecord, category_dir: Location) -> Location | None:
    """The trial's best checkpoint file on the experiment's filesystem (None when it kept none)."""

    if trial.checkpoint is None:
        return None
    return category_dir / trial.checkpoint / CHECKPOINT_FILE


# --- the summary table ---------------------------------------------------------------------------

SUMMARY_COLUMNS = (
    "category",
    "best_score",
    "image_auroc",
    "pixel_auroc",
    "aupro",
    "image_f1",
    "best_epoch",
    "test_image_auroc",
    "test_pixel_auroc",
    "test_precision",
    "test_recall",
    "test_f1_at_threshold",
    "trials",
    "stopped_early",
    "errored",
    "best_trial",
    "best_params",
    "exported",
    "verdict",
    "errors",
)


def summary_rows(outcomes: Sequence[CategoryOutcome]) -> list[dict[str, Any]]:
    rows = []
    for o in outcomes:
        held_out = o.held_out or {}
        rows.append(
            {
                "category": o.category,
                "best_score": o.best.get("score"),
                **{k: o.best.get(k) for k in HELD_OUT_KEYS},
                "best_epoch": o.best.get("epoch"),
                "test_image_auroc": held_out.get("image_auroc"),
                "test_pixel_auroc": held_out.get("pixel_auroc"),
                **{f"test_{k}": held_out.get(k) for k in DECISION_KEYS[:3]},
                "trials": o.trials,
                "stopped_early": o.stopped_early,
                "errored": len(o.errors),
                "best_trial": o.best_trial,
                "best_params": ", ".join(f"{k}={value_text(v)}" for k, v in o.params.items()),
                "exported": o.exported,
                "verdict": o.verdict,
                "errors": "; ".join(o.errors),
            }
        )
    return rows


def write_summary(*, experiment: Location, outcomes: Sequence[CategoryOutcome]) -> tuple[Location, Location]:
    """``summary.csv`` and ``summary.md``: one row per category, errored trials named; the markdown
    adds each category's finalists table and verdict after the table."""
    rows = summary_rows(outcomes)
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=SUMMARY_COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    csv_path, md_path = experiment / SUMMARY_CSV, experiment / SUMMARY_MD
    csv_path.write_text(buf.getvalue())
    lines = ["| " + " | ".join(SUMMARY_COLUMNS) + " |", "|" + "---|" * len(SUMMARY_COLUMNS)]
    for row in rows:
        lines.append(
            "| " + " | ".join(value_text(row[c], missing="nan") if row[c] is not None else "" for c in SUMMARY_COLUMNS) + " |"
        )
    for o in outcomes:
        if o.confirmation is not None:
            lines += ["", f"## {o.category}: finalists on fresh seeds {o.confirmation['seeds']}", ""]
            lines += finalists_table(o.confirmation)
            lines += ["", f"**Verdict:** {o.verdict}"]
    md_path.write_text("\n".join(lines) + "\n")
    return csv_path, md_path
