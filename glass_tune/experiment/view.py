"""An experiment as its readers (report, dashboard, predict / ONNX export) open it.

A thin view that composes the one implementation of each piece: ``glass_tune.experiment.results`` (search
record, trials, objective, best trial, held-out figures), ``glass_tune.experiment.storage`` (a local, shared or
``s3://`` location) and ``glass_tune.search.optuna_searcher`` (where the Optuna study lives: journal file, RDB URL or
a mirror of the journal on object storage).  Nothing here reads the experiment layout on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from glass_tune.experiment.results import (
    SEARCH_FILE,
    Objective,
    TrialRecord,
    category_dirs,
    experiment_objective,
    is_category_dir,
    load_trials,
    read_search_record,
    study_name,
)
from glass_tune.experiment.storage import Location, resolve
from glass_tune.util.errors import UserError

if TYPE_CHECKING:
    import optuna

    from glass_tune.experiment.study_store import StudyStore


@dataclass(frozen=True)
class ExperimentView:
    """One experiment's record, objective and location."""

    location: Location
    record: dict[str, Any]
    objective: Objective

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

    def trials(self, category_dir: Location) -> list[TrialRecord]:
        return load_trials(category_dir=category_dir, objective=self.objective, with_history=True)

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


def open_experiment(path: str | Path) -> ExperimentView:
    """An experiment folder or URI, or one of its category folders, as an :class:`ExperimentView`."""
    location = resolve(str(path))
    if (
        not (location / SEARCH_FILE).is_file()
        and is_category_dir(location=location)
        and (location.parent / SEARCH_FILE).is_file()
    ):
        location = location.parent
    if not (location / SEARCH_FILE).is_file():
        raise UserError(f"{path}: not a glass-tune experiment (no {SEARCH_FILE})")
    return ExperimentView(
        location=location, record=read_search_record(experiment=location), objective=experiment_objective(experiment=location)
    )
