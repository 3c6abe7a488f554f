"""How the study learns what Ray's trials did: tell() per trial, reconcile() after a search or a crash."""

from __future__ import annotations

import math

import optuna
from optuna.trial import TrialState

from glass_tune.experiment.protocol import Objective
from glass_tune.experiment.trial_index import TrialRecord
from glass_tune.search.optuna_internals import trial_id_of
from glass_tune.search.optuna_searcher import FAIL_REASON_ATTR, ORPHAN_REASON, RAY_TRIAL_ATTR, reconcile, tell

EPOCHS = 4


def _study(running: int) -> tuple[optuna.Study, optuna.storages.InMemoryStorage, list[int]]:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(study_name="exp/weave", storage=storage, direction="maximize")
    ids = []
    for index in range(running):
        trial = study.ask()
        storage.set_trial_system_attr(trial_id_of(trial), RAY_TRIAL_ATTR, f"r{index}")
        ids.append(trial_id_of(trial))
    return study, storage, ids


def test_tell_completes_prunes_or_fails_by_what_the_trial_reported():
    study, _, ids = _study(4)
    config = {"epochs": EPOCHS}
    told = [
        tell(
            study,
            ids[0],
            result={"best_score": 0.8, "epoch": 4, "config": config},
            error=False,
            metric="best_score",
            epochs=EPOCHS,
        ),
        tell(
            study,
            ids[1],
            result={"best_score": 0.6, "epoch": 2, "config": config},
            error=False,
            metric="best_score",
            epochs=EPOCHS,
        ),
        tell(study, ids[2], result={"best_score": math.nan, "epoch": 4}, error=False, metric="best_score", epochs=EPOCHS),
        tell(study, ids[3], result=None, error=True, metric="best_score", epochs=EPOCHS, reason="DataError: gone"),
    ]
    assert told == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.FAIL]
    trials = study.get_trials(deepcopy=False)
    assert trials[0].value == 0.8 and trials[1].intermediate_values == {2: 0.6}  # ASHA's rung, as Optuna's pruners see it
    assert [t.system_attrs.get(FAIL_REASON_ATTR) for t in trials[2:]] == ["no best_score reported", "DataError: gone"]


def test_reconcile_settles_every_running_trial_after_a_crash():
    """Ended Ray trials are told from their last result; one still running stays; one Ray never saw fails."""
    study, storage, _ = _study(4)
    record = {
        "r0": TrialRecord("r0", "TERMINATED", {"epochs": EPOCHS}, {"best_score": 0.9, "epoch": 4}),
        "r1": TrialRecord("r1", "ERROR", {"epochs": EPOCHS}, {}, error="ValueError: bad"),
        "r2": TrialRecord("r2", "RUNNING", {"epochs": EPOCHS}, {"best_score": 0.5, "epoch": 1}),
    }
    counts = reconcile(
        storage=storage, study_name="exp/weave", trials=list(record.values()), objective=Objective(), epochs=EPOCHS
    )
    assert counts == {"COMPLETE": 1, "FAIL": 2, "RUNNING": 1}
    states = {t.system_attrs[RAY_TRIAL_ATTR]: t for t in study.get_trials(deepcopy=False)}
    assert states["r0"].state == TrialState.COMPLETE and states["r0"].value == 0.9
    assert states["r1"].system_attrs[FAIL_REASON_ATTR] == "ValueError: bad"
    assert states["r2"].state == TrialState.RUNNING  # resumed later, told then
    assert states["r3"].state == TrialState.FAIL and states["r3"].system_attrs[FAIL_REASON_ATTR] == ORPHAN_REASON
    again = reconcile(storage=storage, study_name="exp/weave", trials=list(record.values()), objective=Objective(), epochs=EPOCHS)
    assert again == counts  # idempotent: a second resume changes nothing
    assert reconcile(storage=storage, study_name="exp/other", trials=[], objective=Objective(), epochs=EPOCHS) == {}
