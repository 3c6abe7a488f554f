"""Every private Optuna attribute glass-tune reads, in one place (checked on Optuna 4.0 - 5.0).

The searcher tags trials in storage and settles them after a crash, which needs a trial's storage id
and a study's storage; Optuna exposes neither publicly.  An Optuna upgrade that renames them fails
``tests/unit/search/test_internals.py`` instead of a search.
"""

from __future__ import annotations

import optuna


def trial_id_of(trial: optuna.Trial | optuna.trial.FrozenTrial) -> int:
    """The trial's id in its storage (``_trial_id``; Optuna 4.0 - 5.0): not its per-study number."""
    return trial._trial_id


def storage_of(study: optuna.Study) -> optuna.storages.BaseStorage:
    """The storage a study reads and writes (``Study._storage``; Optuna 4.0 - 5.0)."""
    return study._storage
