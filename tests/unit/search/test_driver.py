"""The last line and exit code of a search that ran to its end."""

from __future__ import annotations

from glass_tune.experiment.results import CategoryOutcome
from glass_tune.search.driver import search_end


def _outcome(category: str, trials: int, errored: int) -> CategoryOutcome:
    best = None if errored == trials else "t0"
    return CategoryOutcome(category, best, {}, {}, trials=trials, stopped_early=0, errors=[f"t{i}: boom" for i in range(errored)])


def test_the_last_line_counts_errored_trials_and_a_category_without_a_finished_trial_exits_1():
    assert search_end([_outcome("weave", 8, 0)], experiment="runs/tune/x") == (0, "weave: 8 trials, 0 errored")
    assert search_end([_outcome("weave", 8, 2)], experiment="runs/tune/x") == (
        0,
        "weave: 8 trials, 2 errored (see glass-tune status runs/tune/x)",
    )
    assert search_end([_outcome("weave", 8, 8)], experiment="runs/my x") == (
        1,
        "weave: 8 trials, 8 errored, nothing exported (see glass-tune status 'runs/my x')",
    )
    code, line = search_end([_outcome("a", 4, 1), _outcome("b", 4, 4)], experiment="e")
    assert code == 1 and line == "a: 4 trials, 1 errored; b: 4 trials, 4 errored, nothing exported (see glass-tune status e)"
