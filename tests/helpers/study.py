"""Test helper: open an experiment's Optuna storage exactly as the tuner does."""

from __future__ import annotations

from pathlib import Path


def study_storage(experiment: Path | str):
    """The Optuna storage of an experiment as the tuner opens it (journal file, mirrored for URIs)."""
    from glass_tune.experiment.storage import resolve
    from glass_tune.experiment.study_store import StudyStore
    from glass_tune.util.cache import cache_dir

    return StudyStore(experiment=resolve(str(experiment)), url=None, cache=cache_dir()).open()
