"""The one home for search results: what a trial reported, how trials are judged and summarised.

The tuner, the progress lines, ``export``, ``status`` and the HTML report all read results through
this module, so the metric name, the stopped-early rule, the one-line error and the best-trial
choice exist once.  Everything is read through Ray's :class:`~ray.tune.ExperimentAnalysis` over the
experiment's ``pyarrow`` filesystem, so a local folder, a shared mount and ``s3://`` read alike,
and nothing depends on a trial folder on some node (held-out figures travel in the last report).
"""

from __future__ import annotations

import csv
import io
import json
import math
import posixpath
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from glass_tune.config.yaml_values import parse_yaml
from glass_tune.experiment.intervals import finalists_table
from glass_tune.experiment.outcomes import Outcome, RayStatus, trial_outcome
from glass_tune.search.protocol import (
    CHECKPOINT_FILE,
    DECISION_KEYS,
    DEFAULT_METRIC,
    DEFAULT_MODE,
    HELD_OUT_KEYS,
    best_of,
    held_out_of,
    searched_values,
)
from glass_tune.util.errors import UserError
from glass_tune.util.logs import quieted
from glass_tune.util.numbers import value_text

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location

BEST_CONFIG_FILE = "best_config.yaml"
SEARCH_FILE = "search.yaml"  # what a search was asked to do (written by the tuner once Ray is ready)
SUMMARY_CSV, SUMMARY_MD = "summary.csv", "summary.md"


@dataclass(frozen=True)
class Objective:
    """Which reported key is optimised, and in which direction (from the space file)."""

    metric: str = DEFAULT_METRIC
    mode: str = DEFAULT_MODE

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` beats ``b``."""
        return a > b if self.mode == "max" else a < b


@dataclass
class TrialRecord:
    """One Ray trial as readers need it (status, report, config, error), independent of any node."""

    trial_id: str
    status: str  # Ray's (RayStatus)
    config: dict[str, Any]
    last_result: dict[str, Any]
    error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: str | None = None  # fs path of the best checkpoint folder
    folder: str | None = None  # the trial's folder name in the category

    @property
    def stopped_early(self) -> bool:
        return self.outcome == Outcome.STOPPED

    @property
    def params(self) -> dict[str, Any]:
        """The searched values of this trial."""
        return searched_values(self.config)

    @property
    def held_out(self) -> dict[str, float] | None:
        return held_out_figures(last_result=self.last_result)

    @property
    def outcome(self) -> Outcome:
        return trial_outcome(self.status, last_result=self.last_result, config=self.config)

    @property
    def duration_s(self) -> float | None:
        """Ray's wall time of the trial so far (``time_total_s`` of the last report)."""
        value = self.last_result.get("time_total_s")
        return None if value is None else float(value)


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


def read_search_record(*, experiment: Location) -> dict[str, Any]:
    """The raw ``search.yaml`` of an experiment (options, categories, space, base config)."""
    path = experiment / SEARCH_FILE
    if not path.is_file():
        raise UserError(f"{experiment}: no glass-tune experiment there (missing {SEARCH_FILE})")
    return parse_yaml(path.read_text(), source=str(path))


def study_name(experiment_name: str, category: str) -> str:
    """The Optuna study of one category of an experiment (the driver creates it, readers open it)."""
    return f"{experiment_name}/{category}"


def timestamp_text(seconds: float) -> str:
    """A moment as search.yaml records it: ISO 8601 with the local zone, e.g. 2026-12-04T21:10:00+00:00."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).astimezone().isoformat(timespec="seconds")


def record_time(value: Any) -> float | None:
    """Seconds since the epoch of a recorded time: ISO 8601 text (YAML may have parsed it already) or,
    in experiments written before 0.2, a raw epoch float."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def record_objective(record: Mapping[str, Any]) -> Objective:
    """The metric and mode a search record's space optimised (defaults for records without a space)."""
    space = record.get("space") or {}
    return Objective(metric=space.get("metric", DEFAULT_METRIC), mode=space.get("mode", DEFAULT_MODE))


def is_category_dir(*, location: Location) -> bool:
    """Whether a folder holds a Ray experiment (one category's search)."""
    import pyarrow.fs as pafs

    infos = location.fs.get_file_info(pafs.FileSelector(location.path, recursive=False, allow_not_found=True))
    return any(posixpath.basename(i.path).startswith("experiment_state") for i in infos)


def category_dirs(*, experiment: Location) -> list[Location]:
    """The category searches of an experiment, by name."""
    return [d for d in experiment.subdirs() if is_category_dir(location=d)]


def held_out_figures(*, last_result: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The held-out test figures of the selected epoch, from the final report (None if it never came)."""
    return held_out_of(last_result)


def error_message(error: BaseException | None) -> str:
    """The trial's own exception in one line, not Ray's wrapper or traceback around it."""
    cause = getattr(error, "cause", None) or error
    lines = [line for line in str(cause).strip().splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[-1] if lines else ''}"


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


def load_trials(*, category_dir: Location, objective: Objective, with_history: bool = False) -> list[TrialRecord]:
    """Every Ray trial of one category's experiment (during or after the search).

    ``with_history`` adds each trial's reported rows (epoch, metrics) for plots.
    """
    from ray.tune import ExperimentAnalysis

    try:
        with quieted("ray.tune.analysis.experiment_analysis"):  # pending trials have no results yet
            analysis = ExperimentAnalysis(category_dir.path, storage_filesystem=category_dir.fs)
    except Exception as exc:  # Ray raises ValueError/FileNotFoundError/TuneError for non-experiments
        raise UserError(f"{category_dir}: not a Ray Tune experiment folder ({type(exc).__name__})") from None
    records = []
    for trial in analysis.trials:
        error = None
        if trial.status == RayStatus.ERROR:
            error = _trial_error(trial)
        checkpoint = None
        if trial.status != RayStatus.ERROR and trial.checkpoint is not None:  # a running trial may have none yet
            try:
                best = analysis.get_best_checkpoint(trial, metric=objective.metric, mode=objective.mode)
            except Exception:  # no checkpoint with that metric yet
                best = None
            checkpoint = best.path if best is not None else None
        history = []
        if with_history:
            frame = analysis.trial_dataframes.get(trial.trial_id)
            if frame is not None and not frame.empty:
                history = json.loads(frame.to_json(orient="records"))
        records.append(
            TrialRecord(
                trial_id=trial.trial_id,
                status=trial.status,
                config=dict(trial.config),
                last_result=dict(trial.last_result or {}),
                error=error,
                history=history,
                checkpoint=checkpoint,
                folder=trial.storage.trial_dir_name,
            )
        )
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
    from glass_tune.experiment.storage import Location

    if trial.checkpoint is None:
        return None
    folder = trial.checkpoint.rstrip("/")
    if category_dir.is_local:
        uri = folder
    else:
        uri = f"{category_dir.uri.split('://', 1)[0]}://{folder.lstrip('/')}"
    return Location(category_dir.fs, folder, uri) / CHECKPOINT_FILE


def _trial_error(trial: Any) -> str:
    """One line for an errored trial, from the pickled exception Ray stored with the experiment."""
    try:
        exc = trial.get_pickled_error()
    except Exception:
        exc = None
    if exc is not None:
        return error_message(exc)
    try:
        text = trial.get_error()
    except Exception:
        text = None
    return error_message(text) if text is not None else "unknown error (see the trial's error.txt)"


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
