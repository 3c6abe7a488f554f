"""What the report shows of each category, gathered from the experiment: its trials and best trial,
their held-out figures, the search plots, the confirmation, parameter importance from the persisted
Optuna study, the notes, and the columns of the trial and summary tables.

No model runs here (:mod:`glass_tune.report.model_figures` scores the best trial's model) and no
HTML is written (:mod:`glass_tune.report.page`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from glass_tune.experiment.confirmation import read_confirmation
from glass_tune.experiment.outcomes import Outcome
from glass_tune.experiment.results import TrialRecord, best_trial, trial_held_out
from glass_tune.experiment.storage import Location
from glass_tune.experiment.view import ExperimentView
from glass_tune.report import plots
from glass_tune.util.numbers import value_text

MIN_TRIALS_FOR_IMPORTANCE = 3
IMPORTANCE_METHOD = "fANOVA"
BEST_TRIAL_PREFIX = "best_trial_"  # plot keys of the best trial's own section (model_figures draws them)


@dataclass
class Plot:
    key: str
    title: str
    png: bytes
    file: str = ""


@dataclass
class Section:
    category: str
    trials: list[TrialRecord]
    best: TrialRecord | None
    held_out: dict[str, dict[str, float] | None] = field(default_factory=dict)  # by trial id
    plots: list[Plot] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    confirmation: dict[str, Any] | None = None  # confirmation.json: finalists, intervals, verdict


def search_section(view: ExperimentView, category_dir: Location, *, cache: Path) -> Section:
    """A category's section from what its search wrote: trials, plots, confirmation, importance, notes.

    ``cache``: where a remote study journal is copied to be read."""
    trials = view.trials(category_dir)
    objective = view.objective
    best = best_trial((t for t in trials if t.error is None), objective=objective)
    section = Section(
        category_dir.name, trials, best, held_out={t.trial_id: trial_held_out(trial=t, category_dir=category_dir) for t in trials}
    )
    section.plots += [
        Plot("best_so_far", "Best score so far", plots.best_so_far(trials, metric=objective.metric, mode=objective.mode)),
        Plot("auroc_curves", "Validation AUROC per epoch", plots.auroc_curves(trials)),
        Plot(
            "parallel_coordinates",
            "Searched parameters",
            plots.parallel_coordinates(trials, params=view.searched, metric=objective.metric),
        ),
    ]
    section.confirmation = read_confirmation(category_dir)
    if section.confirmation is not None:
        section.plots.append(Plot("finalists", "Finalists on fresh seeds", plots.finalists(section.confirmation)))
    section.notes += held_out_notes(trials, section.held_out)
    png, note = importance_plot(view.open_study(category_dir.name, cache=cache))
    if png is not None:
        section.plots.append(Plot("importance", "Parameter importance", png))
    section.notes.append(note)
    return section


def importance_plot(study: Any | None) -> tuple[bytes | None, str]:
    """fANOVA importances of the study's completed trials, or why there are none."""
    import optuna

    if study is None:
        return None, "Parameter importance: the Optuna study was not found in the recorded storage."
    completed = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if len(completed) < MIN_TRIALS_FOR_IMPORTANCE:
        pruned = len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.PRUNED,)))
        also = f" (and {pruned} stopped early, which importance does not use)" if pruned else ""
        return None, (
            f"Parameter importance needs at least {MIN_TRIALS_FOR_IMPORTANCE} completed trials; "
            f"this study has {len(completed)}{also}."
        )
    try:
        values = optuna.importance.get_param_importances(study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0))
    except (RuntimeError, ValueError) as exc:  # e.g. no parameter varied across the trials
        return None, f"Parameter importance could not be computed: {exc}"
    if not values:
        return None, "Parameter importance: no searched parameter varied across the completed trials."
    note = (
        f"Parameter importance: {IMPORTANCE_METHOD} (optuna.importance.FanovaImportanceEvaluator, seed 0) "
        f"over {len(completed)} completed trials; with few trials it is a rough guide."
    )
    return plots.importance_bars(dict(values), method=IMPORTANCE_METHOD, n_trials=len(completed)), note


def held_out_notes(trials: Sequence[TrialRecord], held_out: Mapping[str, Any]) -> list[str]:
    """Why trials have no held-out figures, by the reason each has: stopped early (the held-out test
    runs after the last epoch), errored, or nothing held out (val_source=test)."""
    missing = [t for t in trials if held_out.get(t.trial_id) is None]
    reasons = {
        Outcome.STOPPED: "stopped early, before the held-out test that follows the last epoch",
        Outcome.ERRORED: "errored",
    }
    counts: dict[str, int] = {}
    for t in missing:
        why = reasons.get(t.outcome) or (
            "nothing was held out (val_source=test)" if t.config.get("val_source") == "test" else "no final report"
        )
        counts[why] = counts.get(why, 0) + 1
    return [f"{n} of {len(trials)} trials have no held-out figures: {why}." for why, n in counts.items()]


def trial_columns(view: ExperimentView, trials: Sequence[TrialRecord]) -> list[tuple[str, str]]:
    """(key, header) of the trial table, the parameters those of the category's resolved space; keys
    are what the cells' ``data-key`` attributes say."""
    return [
        ("trial", "trial"),
        ("state", "state"),
        *[(f"param:{p}", p) for p in plots.live_params(trials, view.searched)],
        (view.objective.metric, view.objective.metric),
        ("best_image_auroc", "image AUROC"),
        ("best_pixel_auroc", "pixel AUROC"),
        ("best_aupro", "AUPRO"),
        ("best_epoch", "selected epoch"),
        ("test_image_auroc", "held-out image AUROC"),
        ("test_pixel_auroc", "held-out pixel AUROC"),
        ("test_aupro", "held-out AUPRO"),
        ("test_precision", "held-out precision"),
        ("test_recall", "held-out recall"),
        ("test_f1_at_threshold", "held-out F1 at threshold"),
        ("epochs", "epochs run"),
        ("duration_s", "duration (s)"),
        ("error", "error"),
    ]


def summary_columns(view: ExperimentView) -> list[tuple[str, str]]:
    """(key, header) of the best trial's figures in the summary table, one row per category."""
    metric = view.objective.metric
    return [
        (metric, metric),
        ("best_image_auroc", "image AUROC"),
        ("best_pixel_auroc", "pixel AUROC"),
        ("best_aupro", "AUPRO"),
        ("test_image_auroc", "held-out image AUROC"),
        ("test_pixel_auroc", "held-out pixel AUROC"),
        ("test_precision", "held-out precision"),
        ("test_recall", "held-out recall"),
        ("test_f1_at_threshold", "held-out F1 at threshold"),
        ("val_source", "validation"),
    ]


def trial_value(trial: TrialRecord, key: str, *, held_out: dict[str, float] | None) -> Any:
    """The value of a trial's table cell ``key`` (a key of :func:`trial_columns` or :func:`summary_columns`)."""
    if key == "trial":
        return trial.trial_id
    if key == "state":
        return trial.outcome
    if key.startswith("param:"):
        value = trial.params.get(key.removeprefix("param:"))
        return value_text(value)  # searched values, not metrics
    if key.startswith("test_"):
        return (held_out or {}).get(key.removeprefix("test_"))
    if key == "epochs":
        return trial.last_result.get("epoch", 0)
    if key == "duration_s":
        return None if trial.duration_s is None else f"{trial.duration_s:.1f}"
    if key == "error":
        return trial.error
    return trial.last_result.get(key)
