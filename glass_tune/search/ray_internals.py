"""Every private Ray attribute glass-tune touches, in one place (checked on Ray 2.51 - 2.60).

Two things need them: the checkpoint guard (Ray's per-trial checkpoint manager keeps its record in
private fields) and :class:`~glass_tune.search.optuna_searcher.GlassOptunaSearch`, which subclasses
``OptunaSearch`` and so works on its fields (``OPTUNA_SEARCH_FIELDS``).  pyproject.toml pins Ray below
2.61; ``tests/unit/search/test_internals.py`` fails when an upgrade renames any of these.
"""

from __future__ import annotations

from typing import Any

from ray.train._internal.storage import _exists_at_fs_path  # Ray 2.51 - 2.60

# OptunaSearch's private members that GlassOptunaSearch reads, sets or overrides (Ray 2.51 - 2.60).
OPTUNA_SEARCH_FIELDS = (
    "_setup_study",  # overridden: no starting points on a study that already has trials
    "_ot_study",  # the optuna.Study (re-loaded after unpickling)
    "_ot_trials",  # Ray trial id -> optuna.Trial
    "_storage",  # the study's storage object
    "_study_name",
    "_sampler",
    "_points_to_evaluate",
    "_completed_trials",
)


def checkpoint_exists(result: Any) -> bool:
    """Whether a recorded checkpoint's folder is still on its filesystem (local path or URI)."""
    checkpoint = result.checkpoint
    return _exists_at_fs_path(checkpoint.filesystem, checkpoint.path)


def recorded_checkpoints(manager: Any) -> list[Any]:
    """The checkpoint results a trial's ``_CheckpointManager`` keeps (``_checkpoint_results``)."""
    return list(manager._checkpoint_results)


def latest_checkpoint(manager: Any) -> Any | None:
    """The one Ray restores from (``_latest_checkpoint_result``)."""
    return manager._latest_checkpoint_result


def set_checkpoint_record(manager: Any, *, recorded: list[Any], latest: Any | None) -> None:
    """Replace the manager's record (both fields), e.g. without checkpoints that vanished."""
    manager._checkpoint_results = recorded
    manager._latest_checkpoint_result = latest
