"""Trial records read back from an experiment: the best trial, the summary, small rules (no Ray)."""

from __future__ import annotations

import math
from pathlib import Path

from glass_tune.experiment.results import (
    Objective,
    TrialRecord,
    best_trial,
    held_out_figures,
    summarize,
    write_summary,
)
from glass_tune.experiment.storage import resolve


def _trial(tid: str, value: float, *, epoch: int = 4, status: str = "TERMINATED", error: str | None = None) -> TrialRecord:
    return TrialRecord(
        trial_id=tid,
        status=status,
        config={"epochs": 4, "searched": ["step"], "step": 3},
        last_result={"loss": value, "best_score": -value, "epoch": epoch, "best_epoch": epoch, "test_image_auroc": 0.9},
        error=error,
    )


def test_best_trial_follows_metric_and_mode():
    trials = [_trial("a", 2.0), _trial("b", 1.0), _trial("c", math.nan)]
    assert best_trial(trials, objective=Objective("loss", "min")).trial_id == "b"
    assert best_trial(trials, objective=Objective("loss", "max")).trial_id == "a"
    assert best_trial(trials, objective=Objective("best_score", "max")).trial_id == "b"


def test_summary_counts_stopped_and_errored_and_names_errors(tmp_path):
    trials = [_trial("a", 2.0, epoch=1), _trial("b", 1.0), _trial("c", 0.5, status="ERROR", error="DataError: gone")]
    outcome = summarize(trials, category="weave", objective=Objective("loss", "min"))
    assert (outcome.best_trial, outcome.stopped_early, outcome.errors) == ("b", 1, ["c: DataError: gone"])
    assert outcome.params == {"step": 3} and outcome.held_out == {"image_auroc": 0.9}
    csv_path, md_path = write_summary(experiment=resolve(str(tmp_path)), outcomes=[outcome])
    assert "DataError: gone" in Path(csv_path.path).read_text() and "| weave |" in Path(md_path.path).read_text()


def test_small_rules():
    assert held_out_figures(last_result={"epoch": 3}) is None
