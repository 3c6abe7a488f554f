"""glass-tune's plain records as tracker runs: a category's search (the parent), its trials and its
confirmation runs (children), and a training run.

Everything here reads what the experiment folder holds (``search.yaml``, the trial index, Ray's
``result.json`` histories, ``confirmation.json``), never Ray's pickled state, so the live feed of a
search and ``glass-tune track`` afterwards describe the same runs the same way.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from glass_tune.experiment.best_config import BEST_CONFIG_FILE
from glass_tune.experiment.confirmation import CONFIRM_DIR, FINALIST_KEY, read_confirmation
from glass_tune.experiment.outcomes import Outcome
from glass_tune.experiment.protocol import thresholds_of
from glass_tune.experiment.results import best_trial, load_trials, summarize
from glass_tune.tracking.tracker import STEP_KEY, Row, RunState, RunStatus

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location
    from glass_tune.experiment.trial_index import TrialRecord
    from glass_tune.experiment.view import ExperimentView

SEARCH_RUN = "search"  # the key of a category's parent run
# Ray's own per-report bookkeeping: not metrics (time_total_s is kept: the trial's wall time)
RAY_BOOKKEEPING = frozenset(
    {"timestamp", "training_iteration", "time_this_iter_s", "time_since_restore", "iterations_since_restore", "pid", "done"}
)
PARAM_LIMIT, TAG_LIMIT = 6000, 8000  # MLflow's value lengths
# search.yaml options that describe how a category was searched (resources and places are left out)
SEARCH_SETTINGS = (
    "samples",
    "scheduler",
    "grace_period",
    "reduction_factor",
    "sampler",
    "seed",
    "objective",
    "repeats",
    "max_concurrent",
    "confirm_top",
    "confirm_seeds",
    "confirm_export",
)
INTERRUPTED = "search interrupted; glass-tune tune --resume continues it"


def text(value: Any, *, limit: int = PARAM_LIMIT) -> str:
    """A param or tag value: strings as they are, everything else as JSON."""
    out = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return out[:limit]


def numeric(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def report_rows(reports: Iterable[Mapping[str, Any]]) -> list[Row]:
    """A trial's reports as epoch-stepped metric rows: every number it reported but Ray's bookkeeping."""
    rows = []
    for report in reports:
        if not numeric(report.get(STEP_KEY)):
            continue
        values = {k: float(v) for k, v in report.items() if numeric(v) and k not in RAY_BOOKKEEPING}
        stamp = report.get("timestamp")
        rows.append(Row(step=int(report[STEP_KEY]), values=values, timestamp=float(stamp) if numeric(stamp) else None))
    return rows


def started(record: TrialRecord) -> bool:
    """Whether a trial has run (a pending one that never reported gets its run when it starts)."""
    return record.outcome != Outcome.PENDING or bool(record.last_result)


def trial_key(trial_id: str, *, confirm: bool) -> str:
    return f"{'confirm' if confirm else 'trial'}/{trial_id}"


_STATUS = {
    Outcome.COMPLETED: RunStatus.FINISHED,
    Outcome.STOPPED: RunStatus.KILLED,
    Outcome.ERRORED: RunStatus.FAILED,
}


def trial_run(
    record: TrialRecord,
    *,
    reports: Sequence[Mapping[str, Any]],
    category: str,
    confirm: bool,
    interrupted: bool = False,
) -> RunState:
    """One Ray trial as a child run: its config as params, its reports stepped by epoch, how it ended.

    ``interrupted``: the search stopped; an unfinished trial is KILLED until a resume runs it again.
    """
    outcome = record.outcome
    status = _STATUS.get(outcome, RunStatus.KILLED if interrupted else RunStatus.RUNNING)
    finalist = record.config.get(FINALIST_KEY)
    tags = {
        "ray_trial_id": record.trial_id,
        "category": category,
        "seed": text(record.config.get("seed")),
        "stage": "confirmation" if confirm else "search",
        "outcome": "interrupted" if status == RunStatus.KILLED and not outcome.finished else str(outcome),
    }
    if finalist is not None:
        tags["finalist"] = str(finalist)
    reason = _end_reason(record, status=status)
    if reason:
        tags["end_reason"] = reason[:TAG_LIMIT]
    tags.update({k: str(v) for k, v in (thresholds_of(record.last_result) or {}).items() if isinstance(v, str)})
    rows = report_rows(reports or ([record.last_result] if record.last_result else []))
    first = reports[0] if reports else record.last_result
    started = first.get("timestamp", 0) - first.get("time_total_s", 0) if first and numeric(first.get("timestamp")) else None
    last = record.last_result.get("timestamp")
    return RunState(
        key=trial_key(record.trial_id, confirm=confirm),
        name=f"{finalist} seed {record.config.get('seed')}" if confirm else (record.folder or f"trial_{record.trial_id}"),
        parent=SEARCH_RUN,
        params={k: text(v) for k, v in record.config.items()},
        tags=tags,
        rows=rows,
        status=status,
        started_at=started,
        ended_at=float(last) if status.ended and numeric(last) else None,
    )


def _end_reason(record: TrialRecord, *, status: RunStatus) -> str | None:
    if record.outcome == Outcome.ERRORED:
        return record.error or "errored"
    if record.outcome == Outcome.STOPPED:
        epochs = record.config.get("epochs")
        return f"stopped early by the scheduler after epoch {record.last_result.get('epoch')} of {epochs}"
    return INTERRUPTED if status == RunStatus.KILLED else None


# --- the category's parent run ---------------------------------------------------------------------


def category_run(view: ExperimentView, category_dir: Location, *, trials: Sequence[TrialRecord], ended: bool) -> RunState:
    """The category's search as the parent run: its settings; once ``ended``, its outcome.

    Ended means no driver is running it: FINISHED once it exported a config, FAILED when every trial
    errored, KILLED when it was interrupted (``--resume`` sets it RUNNING again).
    """
    category = category_dir.name
    record = view.record
    options = record.get("options") or {}
    space = record.get("space") or {}
    base = record.get("base_config") or {}
    params = {k: text(options[k]) for k in SEARCH_SETTINGS if options.get(k) is not None}
    params.update(
        category=category,
        space=text(space.get("name", "")),
        metric=view.objective.metric,
        mode=view.objective.mode,
        epochs=text(base.get("epochs")),
    )
    params.update({f"space.{name}": text(spec) for name, spec in (space.get("params") or {}).items()})
    svd = next((t.config["svd"] for t in trials if "svd" in t.config), None)
    if svd is not None:
        params["svd"] = text(svd)
    tags = {"category": category, "stage": "search", "experiment_folder": view.location.uri[:TAG_LIMIT]}
    tags["svd_reason"] = svd_reason(base.get("svd", "auto"), category)
    state = RunState(key=SEARCH_RUN, name=category, params=params, tags=tags)
    if ended:
        _add_outcome(state, view=view, category_dir=category_dir, trials=trials)
    return state


def svd_reason(configured: Any, category: str) -> str:
    """Why the category trains with its ``svd`` (the search prints the judge's details when it runs)."""
    from glass_tune.data.svd_table import auto_svd

    if configured != "auto":
        return "set in the config"
    if auto_svd(category) is not None:
        return "official per-class table"
    return "distribution judge of the mean training image (svd: auto)"


def _add_outcome(state: RunState, *, view: ExperimentView, category_dir: Location, trials: Sequence[TrialRecord]) -> None:
    """The status of an ended search; its figures only once it is over (an interrupted one's would stick)."""
    best = best_trial((t for t in trials if t.error is None), objective=view.objective)
    if (category_dir / BEST_CONFIG_FILE).is_file():
        state.status = RunStatus.FINISHED
    elif trials and all(t.outcome.finished for t in trials) and best is None:
        state.status, state.tags["end_reason"] = RunStatus.FAILED, "no trial finished"
    else:
        state.status, state.tags["end_reason"] = RunStatus.KILLED, INTERRUPTED
        return
    outcome = summarize(trials, category=category_dir.name, objective=view.objective)
    state.final.update(trials=len(trials), stopped_early=outcome.stopped_early, errored=len(outcome.errors))
    if best is not None:
        state.final["best_value"] = float(best.last_result[view.objective.metric])
        state.final.update({f"best_test_{k}": float(v) for k, v in (best.held_out or {}).items() if numeric(v)})
        state.tags["best_trial"] = best.trial_id
    confirmation = read_confirmation(category_dir)
    if confirmation is not None:
        state.final.update(interval_metrics(confirmation))
        state.tags.update(
            {k: str(confirmation[k])[:TAG_LIMIT] for k in ("winner", "exported", "export_rule") if confirmation.get(k)}
        )
        state.tags["verdict"] = str(confirmation.get("line"))[:TAG_LIMIT]


def interval_metrics(confirmation: Mapping[str, Any]) -> dict[str, float]:
    """The confirmation's intervals as metrics: per finalist the validation mean and 95% interval, and
    the paired difference to the paper default (``confirm.<finalist>.vs_default.*``)."""
    out: dict[str, float] = {}
    for row in confirmation.get("finalists", []):
        prefix = f"confirm.{row['name']}"
        intervals = {"validation": row.get("validation_interval") or {}}
        intervals.update({f"vs_default.{k}": v for k, v in (row.get("vs_default") or {}).items()})
        for name, interval in intervals.items():
            for part in ("mean", "low", "high"):
                value = interval.get(part)
                if numeric(value) and math.isfinite(value):
                    out[f"{prefix}.{name}.{part}"] = float(value)
    return out


def category_runs(view: ExperimentView, category_dir: Location, *, ended: bool = True) -> list[RunState]:
    """Every run the category's plain records hold: the parent, its trials, its confirmation runs."""
    trials = load_trials(category_dir=category_dir, with_history=True)
    confirm_dir = category_dir / CONFIRM_DIR
    confirm = load_trials(category_dir=confirm_dir, with_history=True) if confirm_dir.is_dir() else []
    name = category_dir.name
    return [
        category_run(view, category_dir, trials=trials, ended=ended),
        *(trial_run(t, reports=t.history, category=name, confirm=False, interrupted=ended) for t in trials if started(t)),
        *(trial_run(t, reports=t.history, category=name, confirm=True, interrupted=ended) for t in confirm if started(t)),
    ]


# --- a training run --------------------------------------------------------------------------------

TRAIN_RUN = "train"


def training_run(*, name: str, config: Mapping[str, Any], out_dir: str) -> RunState:
    """``glass-tune train`` as one run: the resolved config as params."""
    return RunState(
        key=TRAIN_RUN,
        name=name,
        params={k: text(v) for k, v in config.items()},
        tags={"category": str(config.get("category")), "seed": text(config.get("seed")), "out_dir": out_dir[:TAG_LIMIT]},
        started_at=time.time(),
    )
