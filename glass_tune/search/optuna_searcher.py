"""The Optuna side of a search: the Ray searcher and bookkeeping that survives any crash.

Where the study lives: ``glass_tune.experiment.study_store``. A limit on trials running at once
across the categories of one driver: ``glass_tune.search.concurrency``.

Crash safety: the driver may die between any two steps (Optuna told, Ray's experiment state not yet
saved; Ray's state saved, Optuna not yet told ...).  :class:`GlassOptunaSearch` therefore tags every
Optuna trial with its Ray trial id, never tells a trial twice, re-uses trials that were asked but
never reached Ray, and :func:`reconcile` settles what is left from Ray's own record once a search ends.
"""

from __future__ import annotations

import logging
import pickle
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import optuna
from optuna.trial import TrialState
from ray.tune.search.optuna import OptunaSearch

from glass_tune.experiment.outcomes import stopped_early
from glass_tune.experiment.protocol import Objective
from glass_tune.experiment.trial_index import TrialRecord
from glass_tune.search.concurrency import trial_slots
from glass_tune.search.optuna_internals import storage_of, trial_id_of

log = logging.getLogger(__name__)

RAY_TRIAL_ATTR = "ray_trial_id"
FAIL_REASON_ATTR = "fail_reason"
ORPHAN_REASON = "the driver stopped before this trial reached Ray"

# Storage objects are not pickled with the searcher (Ray pickles it into the experiment): the driver
# that builds or restores a search registers the storage (and what to do after each save) first.
_STUDIES: dict[str, tuple[optuna.storages.BaseStorage, Callable[[], None]]] = {}


def register_study(study_name: str, *, storage: optuna.storages.BaseStorage, on_save: Callable[[], None]) -> None:
    """Bind a study name to its storage in this driver, before a searcher is built or restored."""
    _STUDIES[study_name] = (storage, on_save)


class GlassOptunaSearch(OptunaSearch):
    """``OptunaSearch`` whose study bookkeeping is idempotent and reconciled with Ray's record.

    As a subclass it works on OptunaSearch's private fields: the list, with the Ray range it was
    checked on, is ``ray_internals.OPTUNA_SEARCH_FIELDS``.

    - every Optuna trial carries ``ray_trial_id``; a trial already finished in the study is never
      told or reported to again (a resumed Ray trial re-reports what Optuna already has);
    - trials the scheduler stopped before their last epoch are told PRUNED, their last value kept
      as an intermediate value (Optuna's samplers treat them as such);
    - a suggestion first re-uses a trial that Optuna handed out but that never reached Ray.
    """

    def __init__(self, *, epochs: int, study_name: str, slots_key: str | None = None, **kwargs: Any) -> None:
        self._epochs = epochs
        self._slots_key = slots_key
        super().__init__(study_name=study_name, storage=_STUDIES[study_name][0], **kwargs)

    # --- study set-up and (un)pickling -------------------------------------------------------

    def _setup_study(self, mode: Any) -> None:
        # A study that already has trials (a rerun after a crash before Ray saved anything) must not
        # get the starting points enqueued a second time.
        if self._storage is not None and _has_trials(self._storage, self._study_name):
            self._points_to_evaluate = []
        super()._setup_study(mode)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_ot_study"] = None
        state["_storage"] = None
        state["_ot_trials"] = {rid: trial_id_of(t) for rid, t in self._ot_trials.items()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        trial_ids = state.pop("_ot_trials")
        self.__dict__.update(state)
        if self._study_name not in _STUDIES:
            raise RuntimeError(f"study {self._study_name!r}: register_study() before restoring its search")
        self._storage = _STUDIES[self._study_name][0]
        self._ot_study = optuna.load_study(study_name=self._study_name, storage=self._storage, sampler=self._sampler)
        self._ot_trials = {rid: optuna.Trial(self._ot_study, tid) for rid, tid in trial_ids.items()}

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as fh:
            pickle.dump(self, fh)
        _STUDIES[self._study_name][1]()

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as fh:
            self.__dict__.update(pickle.load(fh).__dict__)

    # --- the Ray <-> Optuna hand-over ----------------------------------------------------------

    def _state(self, ot_trial: optuna.Trial) -> TrialState:
        return storage_of(self._ot_study).get_trial(trial_id_of(ot_trial)).state

    def suggest(self, trial_id: str) -> dict | None:
        slots = trial_slots(self._slots_key)
        if slots is not None and not slots.take(trial_id):
            return None  # the total limit is reached: Ray asks again later
        if trial_id not in self._ot_trials:
            orphan = self._orphan()
            if orphan is not None:
                self._ot_trials[trial_id] = optuna.Trial(self._ot_study, orphan)
        params = super().suggest(trial_id)
        if params is not None:
            storage_of(self._ot_study).set_trial_system_attr(trial_id_of(self._ot_trials[trial_id]), RAY_TRIAL_ATTR, trial_id)
        return params

    def _orphan(self) -> int | None:
        """A RUNNING study trial that no Ray trial owns: asked just before a crash, never run."""
        owned = {trial_id_of(t) for t in self._ot_trials.values()}
        for frozen in self._ot_study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if trial_id_of(frozen) not in owned:
                return trial_id_of(frozen)
        return None

    def on_trial_result(self, trial_id: str, result: dict) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        value = result.get(self.metric)
        if ot_trial is None or value is None or self._state(ot_trial).is_finished():
            return
        ot_trial.report(float(value), int(result.get("epoch", result.get("training_iteration", 0))))

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        ot_trial = self._ot_trials.get(trial_id)
        self._completed_trials.add(trial_id)
        slots = trial_slots(self._slots_key)
        if slots is not None:
            slots.give(trial_id)
        # An errored trial is told FAIL by reconcile(), which knows the reason (Ray does not pass it here).
        if error or ot_trial is None or self._state(ot_trial).is_finished():
            return
        tell(self._ot_study, trial_id_of(ot_trial), result=result, error=error, metric=self.metric, epochs=self._epochs)


def _has_trials(storage: optuna.storages.BaseStorage, name: str) -> bool:
    try:
        study_id = storage.get_study_id_from_name(name)
    except KeyError:
        return False
    return bool(storage.get_all_trials(study_id, deepcopy=False))


def tell(
    study: optuna.Study,
    trial_id: int,
    *,
    result: Mapping[str, Any] | None,
    error: bool,
    metric: str,
    epochs: int,
    reason: str | None = None,
) -> TrialState:
    """Finish one Optuna trial from what its Ray trial reported: COMPLETE, PRUNED or FAIL."""
    storage = storage_of(study)
    number = storage.get_trial(trial_id).number
    value = (result or {}).get(metric)
    config = (result or {}).get("config") or {"epochs": epochs}
    if error or value is None or value != value:  # NaN: Optuna refuses it as a value
        storage.set_trial_system_attr(
            trial_id, FAIL_REASON_ATTR, reason or ("trial errored" if error else f"no {metric} reported")
        )
        study.tell(number, state=TrialState.FAIL)
        return TrialState.FAIL
    if stopped_early(last_result=result, config=config):
        step = int((result or {}).get("epoch", 0))
        if step not in storage.get_trial(trial_id).intermediate_values:
            storage.set_trial_intermediate_value(trial_id, step, float(value))
        study.tell(number, state=TrialState.PRUNED)
        return TrialState.PRUNED
    study.tell(number, float(value), state=TrialState.COMPLETE)
    return TrialState.COMPLETE


def reconcile(
    *, storage: optuna.storages.BaseStorage, study_name: str, trials: Sequence[TrialRecord], objective: Objective, epochs: int
) -> dict[str, int]:
    """Settle the study against Ray's record once a search (or resume) has ended.

    Each RUNNING study trial whose Ray trial ended is told from that trial's last result; an errored
    Ray trial's reason is written on its FAIL trial; what is left RUNNING never reached Ray and
    fails with a reason.  Returns counts by final state name (for tests and the log).
    """
    try:
        study = optuna.load_study(study_name=study_name, storage=storage)
    except KeyError:
        return {}
    by_ray = {t.trial_id: t for t in trials}
    for frozen in study.get_trials(deepcopy=False):
        ray_trial = by_ray.get(frozen.system_attrs.get(RAY_TRIAL_ATTR, ""))
        if frozen.state != TrialState.RUNNING:
            continue
        if ray_trial is None:
            storage.set_trial_system_attr(trial_id_of(frozen), FAIL_REASON_ATTR, ORPHAN_REASON)
            storage.set_trial_state_values(trial_id_of(frozen), TrialState.FAIL)
        elif ray_trial.outcome.finished:
            tell(
                study,
                trial_id_of(frozen),
                result={**ray_trial.last_result, "config": ray_trial.config},
                error=ray_trial.error is not None,
                metric=objective.metric,
                epochs=epochs,
                reason=ray_trial.error,
            )
    counts: dict[str, int] = {}
    for frozen in study.get_trials(deepcopy=False):
        counts[frozen.state.name] = counts.get(frozen.state.name, 0) + 1
    return counts
