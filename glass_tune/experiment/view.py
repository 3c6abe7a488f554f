"""Opening an experiment: the one place that turns an argument into an experiment, a category and its exported trial.

Every reader (status, report, dashboard, export, predict and the ONNX export) opens an experiment here:
an experiment folder or URI, or one of its category folders. :func:`open_experiment` needs the search
record (``search.yaml``); :func:`open_category` also takes a bare category search (no record beside it,
the default objective) and resolves the category (the one named, or the only one). A category knows
its **exported trial**: after a confirmation stage the exported finalist's confirmation run with the
best validation objective, else the best search trial, and that trial's checkpoint, so the exported
config, ``predict`` and the ONNX model are one model.

A thin view over the one implementation of each piece: ``glass_tune.experiment.results`` (search
record, trials, objective, best trial), ``glass_tune.experiment.confirmation`` (the confirmation's
record), ``glass_tune.experiment.storage`` (a local, shared or ``s3://`` location) and
``glass_tune.experiment.study_store`` (where the Optuna study lives).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glass_tune.experiment.confirmation import CONFIRM_DIR, FINALIST_KEY, read_confirmation
from glass_tune.experiment.protocol import Objective
from glass_tune.experiment.results import (
    best_trial,
    category_dirs,
    checkpoint_file,
    is_category_dir,
    load_trials,
    study_name,
)
from glass_tune.experiment.search_record import SEARCH_FILE, read_search_record, record_objective
from glass_tune.experiment.storage import Location, resolve
from glass_tune.experiment.trial_index import TrialRecord
from glass_tune.util.errors import UserError, did_you_mean

if TYPE_CHECKING:
    import optuna

    from glass_tune.experiment.study_store import StudyStore


@dataclass(frozen=True)
class ExportedTrial:
    """The trial a category's export holds, the Ray experiment that ran it and the confirmation that chose it."""

    trial: TrialRecord
    folder: Location  # the category folder, or its confirmation folder for a confirmation run
    confirmation: dict[str, Any] | None  # confirmation.json when a confirmation chose it

    @property
    def checkpoint(self) -> Location | None:
        """Its best checkpoint file (None when it kept none)."""
        return checkpoint_file(trial=self.trial, category_dir=self.folder)


@dataclass(frozen=True)
class CategoryView:
    """One category's search (a Ray experiment folder) and the objective it was judged by."""

    location: Location
    objective: Objective

    @property
    def name(self) -> str:
        return self.location.name

    def trials(self, *, with_history: bool = False) -> list[TrialRecord]:
        return load_trials(category_dir=self.location, with_history=with_history)

    def exported_trial(self, *, trials: list[TrialRecord] | None = None) -> ExportedTrial:
        """What the export holds: after a confirmation stage the exported finalist's confirmation run
        with the best validation objective (its seed and checkpoint), else the best search trial
        (among ``trials`` when the caller has them loaded)."""
        confirmation = read_confirmation(self.location)
        if confirmation is not None and confirmation.get("exported") is not None:
            folder, exported = self.location / CONFIRM_DIR, confirmation["exported"]
            runs = [t for t in CategoryView(folder, self.objective).trials() if t.config.get(FINALIST_KEY) == exported]
            trial = best_trial((t for t in runs if t.error is None), objective=self.objective)
            if trial is None:
                raise UserError(f"{folder}: no confirmation run of finalist '{exported}' reported {self.objective.metric}")
            return ExportedTrial(trial, folder, confirmation)
        if trials is None:
            trials = self.trials()
        trial = best_trial((t for t in trials if t.error is None), objective=self.objective)
        if trial is None:
            raise UserError(f"{self.location}: no trial reported {self.objective.metric} (all errored?)")
        return ExportedTrial(trial, self.location, None)

    def exported_checkpoint(self) -> Location:
        """The exported trial's checkpoint file: the model ``predict`` and the ONNX export use."""
        exported = self.exported_trial()
        found = exported.checkpoint
        if found is None:
            raise UserError(f"{exported.folder}: the exported trial {exported.trial.trial_id} kept no checkpoint")
        return found


@dataclass(frozen=True)
class ExperimentView:
    """One experiment's record (empty for a bare category search), objective and location."""

    location: Location
    record: dict[str, Any]
    objective: Objective
    named: str | None = None  # the category the opened path was the folder of

    @property
    def name(self) -> str:
        return str((self.record.get("options") or {}).get("name") or self.location.name)

    @property
    def searched(self) -> list[str]:
        return list((self.record.get("space") or {}).get("params") or {})

    def study_name(self, category: str) -> str:
        return study_name(self.name, category)

    def categories(self) -> list[Location]:
        """The recorded categories whose search has started, in the recorded order."""
        present = {d.name: d for d in category_dirs(experiment=self.location)}
        return [present[c] for c in self.record.get("categories", []) if c in present]

    def category(self, name: str | None = None) -> CategoryView:
        """The category ``name`` names, else the one the opened path was, else the experiment's only one."""
        name = name or self.named
        if name is not None and name == self.named:
            return CategoryView(self.location / name, self.objective)
        candidates = category_dirs(experiment=self.location)
        names = [c.name for c in candidates]
        if name is not None:
            if candidates and name not in names:
                raise UserError(
                    f"{self.location}: no category '{name}' in this experiment{did_you_mean(name, names)} (it has: {', '.join(names)})"
                )
            return CategoryView(self.location / name, self.objective)
        if len(candidates) == 1:
            return CategoryView(candidates[0], self.objective)
        if not candidates:
            raise UserError(f"{self.location}: not a glass-tune experiment (no category search found)")
        raise UserError(f"{self.location}: holds several categories ({', '.join(names)}); pass --category")

    def trials(self, category_dir: Location) -> list[TrialRecord]:
        return CategoryView(category_dir, self.objective).trials(with_history=True)

    def study_store(self, *, cache: Path) -> StudyStore:
        """Where the study lives; ``cache`` receives the journal's copy for object storage (a reader's
        own folder, never the driver's mirror, which a running search appends to)."""
        from glass_tune.experiment.study_store import StudyStore

        url = (self.record.get("options") or {}).get("optuna_storage")
        return StudyStore(experiment=self.location, url=url, cache=cache)

    def open_study(self, category: str, *, cache: Path) -> optuna.Study | None:
        """The category's persisted Optuna study, or None when its storage does not hold it."""
        import optuna

        store = self.study_store(cache=cache)
        if store.url is None and not store.remote_journal.is_file():
            return None
        try:
            return optuna.load_study(study_name=self.study_name(category), storage=store.open())
        except KeyError:
            return None


def open_experiment(path: str | Path, *, bare: bool = False) -> ExperimentView:
    """An experiment folder or URI, or one of its category folders, as an :class:`ExperimentView`.

    ``bare`` also accepts a category search with no ``search.yaml`` beside it (and a folder of such
    searches): an empty record and the default objective."""
    location = resolve(str(path))
    if not location.is_dir():
        raise UserError(f"{location}: no such experiment folder")
    named = None
    if not (location / SEARCH_FILE).is_file() and is_category_dir(location=location):
        location, named = location.parent, location.name
    if (location / SEARCH_FILE).is_file():
        record = read_search_record(experiment=location)
    elif bare:
        record = {}
    else:
        raise UserError(f"{path}: not a glass-tune experiment (missing {SEARCH_FILE})")
    return ExperimentView(location=location, record=record, objective=record_objective(record), named=named)


def open_category(path: str | Path, *, category: str | None = None) -> CategoryView:
    """The one category search an argument names: an experiment (``category`` named, or its only one)
    or a category folder itself, with or without the search record beside it."""
    return open_experiment(path, bare=True).category(category)
