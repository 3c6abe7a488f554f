"""The report's figures and notes from plain trial records (no experiment on disk, no Ray)."""

from __future__ import annotations

from unittest import mock

from glass_tune.experiment.outcomes import Outcome
from glass_tune.experiment.results import TrialRecord
from glass_tune.report import plots
from glass_tune.report.sections import held_out_notes


def _trial(tid: str, *, score: float, epoch: int, status: str = "TERMINATED", **params) -> TrialRecord:
    config = {"epochs": 4, "searched": ["step", "radius_quantile"], **params}
    return TrialRecord(trial_id=tid, status=status, config=config, last_result={"epoch": epoch, "best_score": score})


TRIALS = [
    _trial("a", score=1.20, epoch=4, step=5),
    _trial("b", score=1.30, epoch=4, step=9),
    _trial("c", score=0.20, epoch=1, step=7),  # stopped at the first rung, far below the others
]


def test_only_live_parameters_are_axes_and_the_colour_scale_spans_completed_trials():
    assert [t.outcome for t in TRIALS] == [Outcome.COMPLETED, Outcome.COMPLETED, Outcome.STOPPED]
    assert plots.live_params(TRIALS, ["step", "radius_quantile"]) == ["step"]  # radius_quantile: dead (svd=0)
    with (
        mock.patch.object(plots, "Normalize", wraps=plots.Normalize) as norm,
        mock.patch.object(plots, "_scale_axis", wraps=plots._scale_axis) as axis,
    ):
        png = plots.parallel_coordinates(TRIALS, params=["step", "radius_quantile"], metric="best_score")
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert axis.call_count == 2  # step and the metric, no "None" axis
    assert norm.call_args.args == (1.20, 1.30)  # the stopped trial's 0.2 does not stretch the scale


def test_no_trial_colour_is_the_errored_red():
    assert plots.colormaps.get_cmap("tab10")(3) not in plots.TRIAL_COLORS  # tab10's red
    assert plots.STATE_STYLE[Outcome.STOPPED]["color"] != plots.ERRORED_COLOR


def test_held_out_note_states_the_actual_reason():
    val_test = _trial("d", score=1.0, epoch=4, step=5, val_source="test")
    notes = held_out_notes([*TRIALS, val_test], {"a": {"image_auroc": 0.9}, "b": {"image_auroc": 0.8}})
    assert notes == [
        "1 of 4 trials have no held-out figures: stopped early, before the held-out test that follows the last epoch.",
        "1 of 4 trials have no held-out figures: nothing was held out (val_source=test).",
    ]
