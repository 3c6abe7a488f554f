"""``glass-tune report``: one self-contained HTML page (PNGs embedded) per experiment, PNGs beside it.

Per category: best-so-far score, every trial's validation AUROC curves, parallel coordinates of the
searched parameters, parameter importance from the persisted Optuna study, the trial table, and the
best trial's selected model on held-out images (heat maps, ROC/PRO curves, score histogram).

This module puts the report together and writes its files: :mod:`~glass_tune.report.sections`
gathers what each category shows from the experiment, :mod:`~glass_tune.report.model_figures` runs
the best trial's model, :mod:`~glass_tune.report.page` renders the HTML.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from glass_tune.experiment.storage import Location
from glass_tune.experiment.view import ExperimentView, open_experiment
from glass_tune.report.model_figures import best_trial_plots
from glass_tune.report.page import render_html
from glass_tune.report.sections import Section, search_section
from glass_tune.util.atomic_io import atomic_write_bytes, atomic_write_text
from glass_tune.util.errors import UserError


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
    """A category's section: what its search wrote, then the exported model (the one ``export`` and
    ``predict`` use: the confirmation's choice, else the best trial) on held-out images."""
    section = search_section(view, category_dir, cache=cache)
    if section.best is not None:
        try:
            exported = view.category(category_dir.name).exported_trial(trials=section.trials)
        except UserError as exc:
            section.notes.append(f"No exported model to show: {exc}")
            return section
        section.plots += best_trial_plots(exported.trial, category_dir=exported.folder, device=device, notes=section.notes)
    return section
