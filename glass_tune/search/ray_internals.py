"""Every private Ray attribute glass-tune touches, in one place (checked on Ray 2.51 - 2.60).

Four things need them: the trial events (a trial's best checkpoint, and the callback list of a
restored Tuner, :mod:`glass_tune.search.trial_events`), the checkpoint guard (Ray's per-trial checkpoint manager keeps its record in
private fields), :class:`~glass_tune.search.optuna_searcher.GlassOptunaSearch`, which subclasses
``OptunaSearch`` and so works on its fields (``OPTUNA_SEARCH_FIELDS``), and the relocation of a
moved experiment (:mod:`glass_tune.search.relocation`: the search generator's saved state and the
storage context of a trial).  pyproject.toml pins Ray below 2.61; ``tests/unit/search/test_internals.py``
(and ``test_relocation.py``, on Ray's own objects) fails when an upgrade renames any of these.
"""

from __future__ import annotations

import copy
from pathlib import PurePosixPath
from typing import Any

from ray.train._internal.storage import _exists_at_fs_path, _FilesystemSyncer, get_fs_and_path  # Ray 2.51 - 2.60
from ray.tune.execution.tune_controller import TuneController
from ray.tune.impl.tuner_internal import _TUNER_PKL  # Ray 2.51 - 2.60
from ray.tune.search import Searcher, SearchGenerator

# Ray's files in a run folder that a restore needs: tuner.pkl, written when the run starts, and its
# first snapshot (the run's experiment state, the search generator's state, the searcher's state).
TUNER_FILE = _TUNER_PKL
FIRST_SNAPSHOT = tuple(kind.CKPT_FILE_TMPL.format("*") for kind in (TuneController, SearchGenerator, Searcher))

# The search generator's saved state (SearchGenerator.save_to_dir / get_state): a cloudpickled dict
# whose "experiment" is the ray.tune.Experiment the run started with; its ``storage`` (also
# ``spec["storage"]``) is what every trial the generator creates copies.
SEARCH_STATE_PATTERN = SearchGenerator.CKPT_FILE_TMPL.format("*")
SEARCH_STATE_EXPERIMENT_KEY = "experiment"

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


def storage_place(storage: Any) -> tuple[Any, str, str]:
    """Where a ``StorageContext`` puts an experiment: (filesystem, storage fs path, experiment folder name)."""
    return storage.storage_filesystem, storage.storage_fs_path, storage.experiment_dir_name


def storage_filesystem(storage_path: str) -> tuple[Any, str]:
    """The filesystem and fs path Ray makes of a ``RunConfig.storage_path`` (what ``Tuner.restore`` uses)."""
    fs, fs_path = get_fs_and_path(storage_path, None)
    return fs, PurePosixPath(fs_path).as_posix()


def moved_storage(storage: Any, *, storage_path: str, experiment_dir_name: str) -> Any:
    """A copy of a ``StorageContext`` placed at ``storage_path``/``experiment_dir_name``.

    The same attributes Ray's ``TuneController._restore_trials`` sets on a restored trial's storage,
    plus a syncer on the new filesystem (Ray keeps the old one, which uploads a trial's artifacts
    through the filesystem the experiment was started on). The session timestamp stays: it names
    the driver's staging folder, which Ray keeps for a restored run.
    """
    fs, fs_path = storage_filesystem(storage_path)
    moved = copy.copy(storage)
    moved.storage_filesystem = fs
    moved.storage_fs_path = fs_path
    moved.experiment_dir_name = experiment_dir_name
    set_fresh_syncer(moved)
    return moved


def set_fresh_syncer(storage: Any) -> None:
    """Give a ``StorageContext`` a syncer (``_FilesystemSyncer``) on its own filesystem."""
    storage.syncer = _FilesystemSyncer(
        storage_filesystem=storage.storage_filesystem,
        sync_period=storage.sync_config.sync_period,
        sync_timeout=storage.sync_config.sync_timeout,
    )


def set_experiment_storage(experiment: Any, storage: Any) -> None:
    """Give a ``ray.tune.Experiment`` another storage (the attribute and its spec entry, which trials copy)."""
    experiment.storage = storage
    experiment.spec["storage"] = storage


def syncer_filesystem(storage: Any) -> Any:
    """The filesystem a ``StorageContext``'s syncer uploads trial artifacts through."""
    return storage.syncer.storage_filesystem


def best_checkpoint_result(trial: Any, *, metric: str, mode: str) -> Any | None:
    """The kept checkpoint with the best finite ``metric`` (what ``ExperimentAnalysis.get_best_checkpoint``
    picks), from the trial's ``_CheckpointManager.best_checkpoint_results``; None when it kept none."""
    import math

    scored = []
    for result in trial.run_metadata.checkpoint_manager.best_checkpoint_results:
        value = result.metrics.get(metric)
        if isinstance(value, (int, float)) and not math.isnan(value):
            scored.append((value if mode == "max" else -value, result))
    return max(scored, key=lambda pair: pair[0])[1] if scored else None


def tuner_callbacks(tuner: Any) -> list[Any]:
    """The callback list a Tuner hands its run (``_local_tuner``'s run config): a restored Tuner takes
    its callbacks from the pickled run, which may predate one that glass-tune now adds."""
    run_config = tuner._local_tuner.get_run_config()
    if run_config.callbacks is None:
        run_config.callbacks = []
    return run_config.callbacks
