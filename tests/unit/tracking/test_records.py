"""Plain records as tracker runs: statuses, end reasons, stepped rows, the parent's settings and outcome."""

from __future__ import annotations

import pytest

from glass_tune.experiment.storage import resolve
from glass_tune.experiment.trial_index import TrialRecord
from glass_tune.experiment.view import open_experiment
from glass_tune.tracking.records import (
    INTERRUPTED,
    category_run,
    category_runs,
    interval_metrics,
    report_rows,
    started,
    trial_run,
)
from glass_tune.tracking.tracker import RunStatus
from tests.helpers.tracked import EPOCHS, report, trial_config, write_search_record, write_tracked_experiment


def _trial(status: str, last: dict, **kwargs) -> TrialRecord:
    return TrialRecord("t1", status, trial_config(5, **kwargs), last, folder="trial_t1")


def test_report_rows_step_by_epoch_and_leave_rays_bookkeeping_out():
    [row] = report_rows([report(2, 0.7, note="text", flag=True), {"score": 0.1}])  # no epoch: no row
    assert row.step == 2 and row.timestamp == 1_700_000_020
    assert set(row.values) == {"epoch", "score", "best_score", "best_epoch", "image_auroc", "time_total_s"}


@pytest.mark.parametrize(
    ("status", "last", "interrupted", "expected", "reason"),
    [
        ("TERMINATED", report(EPOCHS, 0.9), False, RunStatus.FINISHED, None),
        ("TERMINATED", report(1, 0.2), False, RunStatus.KILLED, f"stopped early by the scheduler after epoch 1 of {EPOCHS}"),
        ("RUNNING", report(1, 0.2), False, RunStatus.RUNNING, None),
        ("RUNNING", report(1, 0.2), True, RunStatus.KILLED, INTERRUPTED),
    ],
)
def test_a_trial_run_ends_as_its_trial_did(status, last, interrupted, expected, reason):
    run = trial_run(_trial(status, last), reports=[last], category="weave", confirm=False, interrupted=interrupted)
    assert run.status == expected and run.tags.get("end_reason") == reason
    assert run.key == "trial/t1" and run.name == "trial_t1" and run.parent == "search"
    assert run.params["searched"] == '["step"]' and run.params["input_shape"] == "[64, 64]"


def test_an_errored_trial_fails_with_its_error_and_a_confirmation_run_names_its_finalist():
    errored = TrialRecord("t2", "ERROR", trial_config(2), {}, error="DataError: data root not found")
    run = trial_run(errored, reports=[], category="weave", confirm=False)
    assert run.status == RunStatus.FAILED and run.tags["end_reason"] == "DataError: data root not found" and not run.rows
    confirm = trial_run(
        _trial("TERMINATED", report(EPOCHS, 0.9), seed=2, finalist="default"), reports=[], category="weave", confirm=True
    )
    assert confirm.name == "default seed 2" and confirm.key == "confirm/t1" and confirm.tags["stage"] == "confirmation"
    assert [r.step for r in confirm.rows] == [EPOCHS]  # no history: the last report


def test_a_pending_trial_gets_no_run_until_it_starts():
    assert not started(_trial("PENDING", {}))
    assert started(_trial("PENDING", report(1, 0.1)))  # paused after it reported


def test_the_parent_has_the_search_settings_and_its_outcome_only_once_the_search_is_over(tmp_path):
    experiment = write_tracked_experiment(tmp_path / "hand")
    view = open_experiment(experiment)
    category = resolve(str(experiment / "weave"))
    parent, *trials = category_runs(view, category)
    assert parent.status == RunStatus.FINISHED and parent.final["best_value"] == pytest.approx(0.8)
    assert parent.final["trials"] == 3 and parent.final["errored"] == 1 and parent.final["stopped_early"] == 1
    assert parent.params["space.step"] == '{"high": 6, "low": 2, "type": "int"}' and parent.params["samples"] == "3"
    assert [t.status for t in trials] == [RunStatus.FINISHED, RunStatus.KILLED, RunStatus.FAILED]
    assert [r.step for r in trials[0].rows] == list(range(1, EPOCHS + 1))

    (experiment / "weave" / "best_config.yaml").unlink()  # interrupted before the export
    interrupted = category_run(view, category, trials=[], ended=True)
    assert interrupted.status == RunStatus.KILLED and not interrupted.final
    running = category_run(view, category, trials=[], ended=False)
    assert running.status == RunStatus.RUNNING and "end_reason" not in running.tags


def test_a_search_where_every_trial_errored_fails(tmp_path):
    write_search_record(tmp_path / "e")
    view = open_experiment(tmp_path / "e", bare=True)
    errored = TrialRecord("t", "ERROR", trial_config(2), {}, error="boom")
    run = category_run(view, resolve(str(tmp_path / "e" / "weave")), trials=[errored], ended=True)
    assert run.status == RunStatus.FAILED and run.tags["end_reason"] == "no trial finished"


def test_the_confirmations_intervals_become_metrics():
    confirmation = {
        "finalists": [
            {"name": "default", "validation_interval": {"mean": 0.8, "low": 0.7, "high": 0.9, "n": 3}},
            {
                "name": "t1",
                "validation_interval": {"mean": 0.85, "low": None, "high": None, "n": 1},
                "vs_default": {"validation": {"mean": 0.05, "low": -0.01, "high": 0.11, "n": 3}},
            },
        ]
    }
    assert interval_metrics(confirmation) == {
        "confirm.default.validation.mean": 0.8,
        "confirm.default.validation.low": 0.7,
        "confirm.default.validation.high": 0.9,
        "confirm.t1.validation.mean": 0.85,
        "confirm.t1.vs_default.validation.mean": 0.05,
        "confirm.t1.vs_default.validation.low": -0.01,
        "confirm.t1.vs_default.validation.high": 0.11,
    }
