"""Read a finished (or running) search back: categories, trials with their histories, the study.

All of the report's, dashboard's and export's knowledge of an experiment's on-disk layout lives here
(see glass_tune/tuner.py for the layout), so it can be re-pointed to a shared results layer in one
place.  Trials come from Ray's ``ExperimentAnalysis`` (config, status, last result) and each trial's
``result.json`` (one JSON line per report); the Optuna study from the storage named in ``search.yaml``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from glass_tune.errors import UserError

SEARCH_FILE = "search.yaml"
RESULT_FILE = "result.json"
ERROR_FILE = "error.txt"
CHECKPOINT_FILE = "checkpoint.pt"
METRIC_NAMES = ("image_auroc", "pixel_auroc", "aupro", "image_f1")
DEFAULT_METRIC = "best_score"

# Trial states as the report shows them.
COMPLETED, STOPPED, ERRORED, RUNNING = "completed", "stopped early", "errored", "running"


@dataclass(frozen=True)
class SearchRecord:
    """What ``search.yaml`` says about the experiment (the parts a reader needs)."""

    root: Path
    name: str
    categories: list[str]
    metric: str
    mode: str
    searched: list[str]
    study_storage: str

    def study_name(self, category: str) -> str:
        return f"{self.name}/{category}"

    def category_dir(self, category: str) -> Path:
        return self.root / category


@dataclass(frozen=True)
class TrialRecord:
    """One trial: its config, searched values, every report, and how it ended."""

    trial_id: str
    path: Path
    config: dict[str, Any]
    params: dict[str, Any]
    history: list[dict[str, Any]]
    last: dict[str, Any]
    state: str
    duration_s: float | None
    held_out: dict[str, float] | None
    error: str | None

    @property
    def epochs_run(self) -> int:
        return int(self.last.get("epoch", 0))

    def best(self, name: str) -> float:
        """The selected epoch's figure (``best_<name>`` of the last report); nan when never reported."""
        value = self.last.get(f"best_{name}")
        return math.nan if value is None else float(value)


def load_search_record(path: str | Path) -> SearchRecord:
    """The experiment folder (or one of its category folders) -> its :class:`SearchRecord`."""
    root = Path(path).expanduser().resolve()
    if not (root / SEARCH_FILE).is_file() and (root.parent / SEARCH_FILE).is_file():
        root = root.parent
    file = root / SEARCH_FILE
    if not file.is_file():
        raise UserError(f"{Path(path)}: not a glass-tune experiment (no {SEARCH_FILE})")
    try:
        doc = yaml.safe_load(file.read_text(encoding="utf-8"))
        options, space = doc["options"], doc["space"]
        return SearchRecord(
            root=root,
            name=str(options["name"]),
            categories=[str(c) for c in doc["categories"]],
            metric=str(space.get("metric") or DEFAULT_METRIC),
            mode=str(space.get("mode") or "max"),
            searched=list(space.get("params", {})),
            study_storage=options.get("optuna_storage") or f"sqlite:///{root / 'optuna.db'}",
        )
    except (yaml.YAMLError, KeyError, TypeError, AttributeError) as exc:
        raise UserError(f"{file}: unreadable search record ({type(exc).__name__}: {exc})") from None


def categories_with_trials(record: SearchRecord) -> list[str]:
    """The recorded categories whose search has started (has a Ray experiment state)."""
    return [c for c in record.categories if any(record.category_dir(c).glob("experiment_state*.json"))]


def load_trials(record: SearchRecord, category: str) -> list[TrialRecord]:
    """Every trial of one category, in Ray's order (creation order)."""
    from ray.tune import ExperimentAnalysis

    folder = record.category_dir(category)
    try:
        analysis = ExperimentAnalysis(str(folder), default_metric=record.metric, default_mode=record.mode)
    except Exception as exc:  # Ray raises ValueError/FileNotFoundError/TuneError for non-experiments
        raise UserError(f"{folder}: not a Ray Tune experiment folder ({type(exc).__name__})") from None
    return [_trial_record(t, record.searched) for t in analysis.trials]


def _trial_record(trial: Any, searched: list[str]) -> TrialRecord:
    path = Path(trial.path)
    history = read_history(path)
    last = dict(trial.last_result or (history[-1] if history else {}))
    config = dict(trial.config)
    state = _state(str(trial.status), last, config)
    return TrialRecord(
        trial_id=str(trial.trial_id),
        path=path,
        config=config,
        params={k: config[k] for k in config.get("searched", searched) if k in config},
        history=history,
        last=last,
        state=state,
        duration_s=float(last["time_total_s"]) if "time_total_s" in last else None,
        held_out=held_out_figures(path, last),
        error=_error_line(path) if state == ERRORED else None,
    )


def _state(status: str, last: dict[str, Any], config: dict[str, Any]) -> str:
    if status == "ERROR":
        return ERRORED
    if status == "TERMINATED":
        return STOPPED if int(last.get("epoch", 0)) < int(config.get("epochs", 0)) else COMPLETED
    return RUNNING


def read_history(trial_dir: Path) -> list[dict[str, Any]]:
    """The trial's reports, one dict per ``tune.report`` (Ray's ``result.json`` is JSON lines)."""
    file = trial_dir / RESULT_FILE
    if not file.is_file():
        return []
    rows = []
    for line in file.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            row.pop("config", None)
            rows.append(row)
    return rows


def held_out_figures(trial_dir: Path, last: dict[str, Any]) -> dict[str, float] | None:
    """Held-out test figures of the selected epoch: the last report's ``test_*`` keys, else
    ``run/metrics.json`` "test" (experiments from before the figures were reported)."""
    reported = {k.removeprefix("test_"): float(last[f"test_{k}"]) for k in METRIC_NAMES if f"test_{k}" in last}
    if reported:
        return reported
    metrics = trial_dir / "run" / "metrics.json"
    if not metrics.is_file():
        return None
    test = json.loads(metrics.read_text(encoding="utf-8")).get("test")
    return None if test is None else {k: float(v) for k, v in test.items()}


def _error_line(trial_dir: Path) -> str:
    """The last non-empty line of Ray's ``error.txt`` (the exception itself)."""
    file = trial_dir / ERROR_FILE
    if not file.is_file():
        return "errored (no error.txt)"
    lines = [line.strip() for line in file.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "errored"


def best_trial(trials: list[TrialRecord], *, metric: str, mode: str) -> TrialRecord | None:
    """The trial with the best last value of ``metric`` among those that reported it."""
    scored = [t for t in trials if isinstance(t.last.get(metric), (int, float)) and not math.isnan(t.last[metric])]
    if not scored:
        return None
    sign = 1.0 if mode == "max" else -1.0
    return max(scored, key=lambda t: sign * float(t.last[metric]))


def trial_checkpoint(trial_dir: Path) -> Path | None:
    """The trial's newest kept Ray checkpoint file.

    Every checkpoint carries the selected epoch's weights as of its epoch, and a checkpoint is taken
    on every improvement, so the newest kept one holds the trial's final selection.
    """
    files = sorted(trial_dir.glob(f"checkpoint_*/{CHECKPOINT_FILE}"))
    return files[-1] if files else None


def open_study(record: SearchRecord, category: str) -> Any | None:
    """The category's persisted Optuna study, or None when the storage does not hold it."""
    import optuna

    try:
        return optuna.load_study(study_name=record.study_name(category), storage=record.study_storage)
    except KeyError:
        return None
