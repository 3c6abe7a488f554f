"""``glass-tune report``: one self-contained HTML page (PNGs embedded) per experiment, PNGs beside it.

Per category: best-so-far score, every trial's validation AUROC curves, parallel coordinates of the
searched parameters, parameter importance from the persisted Optuna study, the trial table, and the
best trial's selected model on held-out images (heat maps, ROC/PRO curves, score histogram).
"""

from __future__ import annotations

import base64
import html
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from glass_tune import __version__
from glass_tune.experiment.confirmation import read_confirmation
from glass_tune.experiment.intervals import finalists_table
from glass_tune.experiment.outcomes import Outcome
from glass_tune.experiment.results import TrialRecord, best_trial, checkpoint_file, trial_held_out
from glass_tune.experiment.storage import Location
from glass_tune.experiment.view import ExperimentView, open_experiment
from glass_tune.report import plots
from glass_tune.util.atomic_io import atomic_write_bytes, atomic_write_text
from glass_tune.util.errors import DataError, UserError
from glass_tune.util.numbers import metric_text, value_text

if TYPE_CHECKING:  # torch: loaded only when the report scores a checkpoint
    from torch.utils.data import Dataset

    from glass_tune.training.loop import Evaluation

MIN_TRIALS_FOR_IMPORTANCE = 3
IMPORTANCE_METHOD = "fANOVA"
MAX_OVERLAYS = 8
BEST_TRIAL_PREFIX = "best_trial_"  # plot keys of the best trial's own section
METRIC_LABELS = {"image_auroc": "image AUROC", "pixel_auroc": "pixel AUROC", "aupro": "AUPRO"}


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


def write_report(experiment: str | Path, *, out_dir: str | Path | None = None, device: str = "auto") -> Path:
    """Write ``report.html`` and one PNG per plot into ``out_dir`` (default ``EXPERIMENT/report``).

    ``experiment`` may be a storage URI (then ``out_dir`` is needed: the report is written locally)."""
    view = open_experiment(experiment)
    if out_dir is None and not view.location.is_local:
        raise UserError(f"{view.location}: the experiment is on object storage; pass --out DIR for the report")
    categories = view.categories()
    if not categories:
        raise UserError(f"{view.location}: no category of this experiment has trials yet")
    with tempfile.TemporaryDirectory(prefix="glass-tune-report-") as scratch:  # the study journal's copy, if remote
        sections = [build_section(view, c, device=device, cache=Path(scratch)) for c in categories]
    out = Path(out_dir) if out_dir is not None else view.location.local_path / "report"
    for section in sections:
        for plot in section.plots:
            plot.file = f"{section.category}-{plot.key}.png"
            atomic_write_bytes(out / plot.file, plot.png)
    target = out / "report.html"
    atomic_write_text(target, render_html(view, sections))
    return target


def build_section(view: ExperimentView, category_dir: Location, *, device: str, cache: Path) -> Section:
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
    if best is not None:
        section.plots += best_trial_plots(best, category_dir=category_dir, device=device, notes=section.notes)
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


@dataclass
class BestTrialEvaluation:
    """The best trial's selected model scored on its held-out images (validation ones when none are held out)."""

    evaluation: Evaluation
    dataset: Dataset
    held_out: bool
    selected_epoch: Any
    val_source: str
    thresholds: dict[str, Any] | None  # calibrated at the selected epoch (older checkpoints: none)


def evaluate_checkpoint(path: Location, *, device: str) -> BestTrialEvaluation:
    """Score a trial's selected model exactly as its run did: the run's images, input size and mask protocol.

    Raises DataError when the run's data is not readable here.
    """
    from glass_tune.inference.model_source import read_checkpoint
    from glass_tune.training.checkpoint import selected_model
    from glass_tune.training.loop import evaluate_dataset
    from glass_tune.training.run_inputs import evaluation_dataset, run_samples, validation_dataset
    from glass_tune.util.runtime import resolve_device

    ckpt = read_checkpoint(path)
    samples = run_samples(ckpt.config)
    held_out = samples.test is not None
    dataset = evaluation_dataset(ckpt.config, samples.test) if held_out else validation_dataset(ckpt.config, samples)
    dev = resolve_device(device)
    ev = evaluate_dataset(selected_model(ckpt, source=path).to(dev), dataset, ckpt.config, dev)
    selected = (ckpt.best or {}).get("epoch", "?")
    return BestTrialEvaluation(ev, dataset, held_out, selected, ckpt.config.val_source, ckpt.thresholds)


def best_trial_plots(best: TrialRecord, *, category_dir: Location, device: str, notes: list[str]) -> list[Plot]:
    """The best trial's selected model on its held-out images (validation images when none are held out)."""
    from glass_tune.data import denormalize
    from glass_tune.inference.heatmaps import relative_names

    path = checkpoint_file(trial=best, category_dir=category_dir)
    if path is None:
        notes.append(f"Best trial {best.trial_id} kept no checkpoint: no heat maps.")
        return []
    try:
        scored = evaluate_checkpoint(path, device=device)
    except DataError as exc:
        notes.append(f"Best trial {best.trial_id}: its data is not readable here ({exc}); no heat maps.")
        return []
    ev, dataset = scored.evaluation, scored.dataset
    which = "held-out test" if scored.held_out else f"validation (nothing was held out: val_source={scored.val_source})"
    notes.append(
        f"Best trial {best.trial_id}: selected epoch {scored.selected_epoch}, {len(dataset)} {which} images; "
        + ", ".join(f"{METRIC_LABELS.get(k, k)} {v:.4f}" for k, v in ev.metrics.items())
    )
    if scored.thresholds is not None:
        from glass_tune.training.console import format_decisions, format_thresholds
        from glass_tune.training.loop import held_out_decisions

        notes.append(
            f"Best trial {best.trial_id}: {format_thresholds(scored.thresholds)}; on these images "
            + format_decisions(held_out_decisions(ev, scored.thresholds))
        )
    picks = _overlay_picks(ev.labels)
    items = [dataset[i] for i in picks]
    images = [denormalize(it["image"]).clamp(0, 1).permute(1, 2, 0).numpy() for it in items]
    names = relative_names([s.path for s in dataset.samples])  # distinct, like predict's outputs
    titles = [f"{names[i].with_suffix('').as_posix()}  score {ev.scores[i]:.3f}" for i in picks]
    return [
        Plot(
            "best_trial_overlays",
            "Best trial: anomaly maps on held-out images",
            plots.overlays(images, [ev.maps[i] for i in picks], [ev.masks[i] for i in picks], titles),
        ),
        Plot("best_trial_roc_pro", "Best trial: ROC and PRO curves", plots.roc_and_pro(ev.labels, ev.scores, ev.masks, ev.maps)),
        Plot("best_trial_histogram", "Best trial: image scores", plots.score_histogram(ev.labels, ev.scores)),
    ]


def _overlay_picks(labels: np.ndarray) -> list[int]:
    """Up to six anomalous and two normal images, spread over the set."""
    anomalous, normal = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n_normal = min(len(normal), 2)
    n_anomalous = min(len(anomalous), MAX_OVERLAYS - n_normal)

    def spread(idx: np.ndarray, k: int) -> list[int]:
        return [int(idx[j]) for j in np.linspace(0, len(idx) - 1, k).round().astype(int)] if k else []

    return spread(anomalous, n_anomalous) + spread(normal, n_normal)


# --- HTML ---------------------------------------------------------------------------------------

CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0} td.text{text-align:left}
tr.best{background:#e6f4e6} tr.errored{background:#fbe3e3} tr.stopped{color:#666}
figure{margin:1em 0} img{max-width:100%;border:1px solid #ddd}
.note{color:#555;font-size:13px}
"""


def _cell(value: Any, *, key: str = "", text: bool = False) -> str:
    attrs = f' data-key="{key}"' if key else ""
    attrs += ' class="text"' if text else ""
    return f"<td{attrs}>{html.escape(metric_text(value, missing=''))}</td>"


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


def trial_value(trial: TrialRecord, key: str, *, held_out: dict[str, float] | None) -> Any:
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


def _trial_table(view: ExperimentView, section: Section) -> str:
    cols = trial_columns(view, section.trials)
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in cols)
    rows = []
    for t in section.trials:
        css = " ".join(c for c in ("best" if t is section.best else "", t.outcome.split()[0]) if c)
        held_out = section.held_out.get(t.trial_id)
        cells = "".join(
            _cell(trial_value(t, k, held_out=held_out), key=k, text=k in ("trial", "state", "error")) for k, _ in cols
        )
        rows.append(f'<tr class="{css}" data-trial="{html.escape(t.trial_id)}">{cells}</tr>')
    return f'<table class="trials" data-category="{html.escape(section.category)}"><tr>{head}</tr>{"".join(rows)}</table>'


def _summary_table(view: ExperimentView, sections: list[Section]) -> str:
    metric = view.objective.metric
    keys = [
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
    head = (
        "<th>category</th><th>best trial</th>"
        + "".join(f"<th>{h}</th>" for _, h in keys)
        + "<th>trials</th><th>stopped early</th><th>errored</th>"
    )
    rows = []
    for s in sections:
        link = f'<td class="text"><a href="#cat-{html.escape(s.category)}">{html.escape(s.category)}</a></td>'
        best = s.best
        held_out = s.held_out.get(best.trial_id) if best else None
        cells = _cell(best.trial_id if best else None, text=True) + "".join(
            _cell(trial_value(best, k, held_out=held_out) if best else None, key=k) for k, _ in keys
        )
        counts = [sum(t.outcome == st for t in s.trials) for st in (Outcome.STOPPED, Outcome.ERRORED)]
        cells += _cell(len(s.trials), key="trials") + _cell(counts[0], key="stopped") + _cell(counts[1], key="errored")
        rows.append(f'<tr data-category="{html.escape(s.category)}">{link}{cells}</tr>')
    return f'<table class="summary"><tr>{head}</tr>{"".join(rows)}</table>'


def _figure(section: Section, plot: Plot) -> str:
    data = base64.b64encode(plot.png).decode("ascii")
    plot_id = f"{section.category}-{plot.key}"
    return (
        f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(plot.title)}" '
        f'data-plot="{html.escape(plot_id)}"><figcaption>{html.escape(plot.title)} '
        f'(<a href="{html.escape(plot.file)}">{html.escape(plot.file)}</a>)</figcaption></figure>'
    )


def _finalists_section(section: Section) -> list[str]:
    """The confirmation: the verdict, the finalists' table and their seeds as points."""
    record = section.confirmation or {}
    head, _, *rows = finalists_table(record)
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    header = "".join(f"<th>{html.escape(h.strip())}</th>" for h in head.strip("|").split("|"))
    body = "".join(
        f'<tr data-finalist="{html.escape(r["name"])}">' + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
        for r, row in zip(record["finalists"], cells, strict=True)
    )
    return [
        "<h3>Finalists on fresh seeds</h3>",
        f'<p class="verdict" data-category="{html.escape(section.category)}"><b>Verdict:</b> {html.escape(record["line"])}</p>',
        f'<p class="note">Each finalist trained again with seeds {html.escape(str(record["seeds"]))}, which no search trial used; '
        "the winner has the best mean validation objective; held-out figures are shown, never used to choose.</p>",
        f'<table class="finalists">{header and f"<tr>{header}</tr>"}{body}</table>',
        *[_figure(section, p) for p in section.plots if p.key == "finalists"],
    ]


def render_html(view: ExperimentView, sections: list[Section]) -> str:
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        f"<title>glass-tune report: {html.escape(view.name)}</title><style>{CSS}</style></head><body>",
        f"<h1>glass-tune report: {html.escape(view.name)}</h1>",
        (
            f'<p class="note">Experiment {html.escape(str(view.location))}; objective {html.escape(view.objective.metric)} '
            f"({html.escape(view.objective.mode)}); searched: {html.escape(', '.join(view.searched) or 'nothing')}; "
            f"glass-tune {__version__}. Figures are the selected epoch's (best_*); held-out figures come from "
            "images that played no part in selection.</p>"
        ),
    ]
    if len(sections) > 1:
        parts += ["<h2>Summary</h2>", _summary_table(view, sections)]
    for s in sections:
        parts.append(f'<section id="cat-{html.escape(s.category)}"><h2>{html.escape(s.category)}</h2>')
        best = f"best trial {s.best.trial_id}" if s.best else "no trial reported a score"
        parts.append(f'<p class="note">{len(s.trials)} trials; {html.escape(best)}.</p>')
        if s.confirmation is not None:
            parts += _finalists_section(s)
        parts += [_figure(s, p) for p in s.plots if not p.key.startswith(BEST_TRIAL_PREFIX) and p.key != "finalists"]
        parts += ["<h3>Trials</h3>", _trial_table(view, s)]
        parts += [f'<p class="note">{html.escape(n)}</p>' for n in s.notes]
        best_plots = [p for p in s.plots if p.key.startswith(BEST_TRIAL_PREFIX)]
        if best_plots:
            parts.append("<h3>Best trial</h3>")
            parts += [_figure(s, p) for p in best_plots]
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
