"""The private Ray and Optuna attributes glass-tune relies on still exist in the installed versions."""

from __future__ import annotations

import optuna
from ray.tune.search.optuna import OptunaSearch

from glass_tune.search.optuna_internals import storage_of, trial_id_of
from glass_tune.search.ray_internals import OPTUNA_SEARCH_FIELDS


def test_optuna_trial_ids_and_storage_are_reachable() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(storage=storage)
    first, second = study.ask(), study.ask()
    assert storage_of(study) is storage
    assert [trial_id_of(first), trial_id_of(second)] == [t._trial_id for t in study.get_trials(deepcopy=False)]
    assert storage.get_trial(trial_id_of(second)).number == 1


def test_optuna_search_has_the_fields_the_subclass_uses() -> None:
    search = OptunaSearch(space={"x": optuna.distributions.FloatDistribution(0.0, 1.0)}, metric="m", mode="max", study_name="s")
    missing = [name for name in OPTUNA_SEARCH_FIELDS if not hasattr(search, name)]
    assert not missing, f"OptunaSearch lacks {missing}: update ray_internals and GlassOptunaSearch"
