"""A moved experiment resumes where it now is, never where it was started.

Users move experiments (to another disk or machine, out of a temporary folder, from object storage
to a local folder) and ``--resume`` them there. ``Tuner.restore`` re-points what it restores from
``experiment_state-*.json`` (each trial's storage and checkpoints) to the folder it is given, but
not the search generator's state (``search_gen_state-*.json``): that keeps the ``ray.tune.Experiment``
the run was first started with, storage included, and every trial the generator creates after the
restore copies that storage. Those trials would write their checkpoints, ``run/metrics.json`` and
TensorBoard events into the old location (and could not save a checkpoint where it is gone: Ray
checks for its marker file there first), while Ray's driver writes their results into the new one.

:func:`relocate_search_state` rewrites that record to the folder being restored, before
``Tuner.restore`` reads it; a record that already names the folder is left alone. Ray reads only
the newest state file, so only that one is rewritten (the run's next snapshot writes a newer one).

The trials Ray restores keep one stale piece too: the syncer that uploads their artifacts is the
one they were pickled with, on the filesystem the experiment started on. :func:`refresh_syncer`
(run by the checkpoint guard before a restored trial starts) replaces it when an experiment moved
between kinds of storage (object storage and a folder).
"""

from __future__ import annotations

import fnmatch
from typing import Any

import ray.cloudpickle as cloudpickle

from glass_tune.experiment.storage import Location
from glass_tune.search.ray_internals import (
    SEARCH_STATE_EXPERIMENT_KEY,
    SEARCH_STATE_PATTERN,
    moved_storage,
    set_experiment_storage,
    set_fresh_syncer,
    storage_filesystem,
    storage_place,
    syncer_filesystem,
)
from glass_tune.util.logs import get_logger

log = get_logger(__name__)


def newest_search_state(run_dir: Location) -> Location | None:
    """The search generator's state file Ray restores from (the newest by its timestamped name)."""
    names = fnmatch.filter(run_dir.names(), SEARCH_STATE_PATTERN)
    return run_dir / max(names) if names else None


def same_place(storage: Any, run_dir: Location) -> bool:
    """Whether a Ray ``StorageContext`` puts its experiment at ``run_dir`` (a category or confirm/ folder)."""
    fs, fs_path, name = storage_place(storage)
    here_fs, here_path = storage_filesystem(run_dir.parent.uri)
    return fs.equals(here_fs) and fs_path == here_path and name == run_dir.name


def relocated_state(state: dict[str, Any], run_dir: Location) -> str | None:
    """Point a search generator state's experiment at ``run_dir`` in place; return where it pointed
    before (``None`` when it already pointed there or holds no experiment)."""
    experiment = state.get(SEARCH_STATE_EXPERIMENT_KEY)
    if experiment is None or same_place(experiment.storage, run_dir):
        return None
    _, fs_path, name = storage_place(experiment.storage)
    moved = moved_storage(experiment.storage, storage_path=run_dir.parent.uri, experiment_dir_name=run_dir.name)
    set_experiment_storage(experiment, moved)
    return f"{fs_path.rstrip('/')}/{name}"


def relocate_search_state(run_dir: Location) -> str | None:
    """Rewrite the search generator's state of the Ray run at ``run_dir`` (a category folder or its
    ``confirm/``) so trials created after the restore are stored there; return the old location,
    or ``None`` when nothing was rewritten."""
    path = newest_search_state(run_dir)
    if path is None:
        return None
    state = cloudpickle.loads(path.read_bytes())
    old = relocated_state(state, run_dir)
    if old is not None:
        path.write_bytes(cloudpickle.dumps(state))
        log.info(f"{run_dir}: started at {old}; its new trials are stored here")
    return old


def refresh_syncer(trial: Any) -> bool:
    """Make a restored trial upload its artifacts through the filesystem its storage names now
    (Ray re-points a moved trial's storage but not its syncer); return whether it had to."""
    storage = trial.storage
    if syncer_filesystem(storage).equals(storage.storage_filesystem):
        return False
    set_fresh_syncer(storage)
    return True
