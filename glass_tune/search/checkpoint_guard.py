"""Keep Ray's per-trial checkpoint bookkeeping true to storage after a driver crash.

Ray deletes the worst checkpoints as soon as a new one is registered (``num_to_keep``) but snapshots
the experiment state only every few checkpoints. A driver killed between the two leaves a snapshot
that names checkpoints already deleted. On resume Ray then fails to delete them again (a logged
``FileNotFoundError`` traceback that also skips its experiment snapshot) or, when the vanished one is
the latest, restores the trial from a folder that is gone. This callback forgets vanished checkpoints
before Ray acts on them: once before the first trial (re)starts and before every registration.

It reads and rewrites Ray's private checkpoint record through :mod:`glass_tune.search.ray_internals`.
Being the callback every experiment's saved run carries, it also gives a restored trial of a moved
experiment the syncer of its new storage (:func:`glass_tune.search.relocation.refresh_syncer`).
"""

from __future__ import annotations

from typing import Any

from ray.tune import Callback

from glass_tune.search.ray_internals import checkpoint_exists, latest_checkpoint, recorded_checkpoints, set_checkpoint_record
from glass_tune.search.relocation import refresh_syncer
from glass_tune.util.logs import get_logger

log = get_logger(__name__)


def forget_vanished_checkpoints(trial: Any) -> list[str]:
    """Drop the trial's recorded checkpoints whose folders are gone; return their paths.

    A vanished latest checkpoint falls back to the newest recorded one still present (or none, so
    the trial starts afresh rather than failing to restore).
    """
    manager = trial.run_metadata.checkpoint_manager
    kept = recorded_checkpoints(manager)
    latest = latest_checkpoint(manager)
    recorded = kept + ([latest] if latest is not None and all(latest is not r for r in kept) else [])
    present = [r for r in recorded if checkpoint_exists(r)]
    if len(present) == len(recorded):
        return []
    if latest is not None and all(latest is not p for p in present):
        latest = max(present, key=lambda r: r.checkpoint.path, default=None)
    set_checkpoint_record(manager, recorded=[r for r in kept if any(r is p for p in present)], latest=latest)
    return [r.checkpoint.path for r in recorded if all(r is not p for p in present)]


class VanishedCheckpointGuard(Callback):
    """Runs :func:`forget_vanished_checkpoints` where Ray would otherwise trip over a crash's leftovers."""

    def __init__(self) -> None:
        self._checked_restored = False

    def __getstate__(self) -> dict[str, Any]:
        # Pickled with the experiment state: a resumed driver must check its restored trials again.
        return {"_checked_restored": False}

    def _forget(self, trial: Any) -> None:
        for path in forget_vanished_checkpoints(trial):
            log.info(f"[{trial.trial_id}] checkpoint {path} was deleted before the last crash; forgotten")

    def on_step_begin(self, iteration: int, trials: list, **info: Any) -> None:
        if not self._checked_restored:
            self._checked_restored = True
            for trial in trials:
                refresh_syncer(trial)
                self._forget(trial)

    def on_checkpoint(self, iteration: int, trials: list, trial: Any, checkpoint: Any, **info: Any) -> None:
        self._forget(trial)
