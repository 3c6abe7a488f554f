"""The search's progress lines and the driver's one-at-a-time set-up of concurrent Tune runs (no Ray run)."""

from __future__ import annotations

import logging
import threading
import time
from types import SimpleNamespace

from glass_tune.experiment.protocol import Objective
from glass_tune.search.concurrency import TrialSlots, register_total_limit, trial_slots
from glass_tune.search.progress import ProgressCallback, fit_in_turn, started_event


def _trial(trial_id: str, status: str, *, epoch: int = 0, error_file: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(
        trial_id=trial_id, status=status, last_result={"epoch": epoch}, config={"epochs": 4}, error_file=error_file
    )


def test_each_event_is_one_line_with_counts_and_the_best_so_far(tmp_path, caplog):
    progress = ProgressCallback(category="weave", samples=4, objective=Objective("best_score", "max"))
    done, stopped, running = _trial("a", "TERMINATED", epoch=4), _trial("b", "RUNNING", epoch=1), _trial("c", "RUNNING", epoch=2)
    (tmp_path / "error.txt").write_text("Failure # 1\nglass_tune.util.errors.DataError: no images\n")
    failed = _trial("d", "RUNNING", error_file=str(tmp_path / "error.txt"))
    trials = [done, stopped, running, failed]
    with caplog.at_level(logging.INFO):
        progress.on_trial_result(1, trials, running, {"epoch": 2, "score": 0.5, "best_score": 0.7})
        progress.on_trial_result(1, trials, stopped, {"epoch": 1, "score": 0.4, "best_score": 0.6})  # not better
        progress.on_trial_complete(2, trials, stopped)  # Ray sets TERMINATED after the hook
        progress.on_trial_error(3, trials, failed)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == (
        "[tune weave] c epoch 2: score 0.5000 (trial best 0.7000) | 3 running, 1 done, 0 stopped early, 0 errored of 4 | best 0.7000 (c)"
    )
    assert lines[1].endswith("| best 0.7000 (c)")
    assert lines[2] == (
        "[tune weave] b stopped early by the scheduler | 2 running, 1 done, 1 stopped early, 0 errored of 4 | best 0.7000 (c)"
    )
    assert lines[3].startswith("[tune weave] d ERRORED: DataError: no images | 2 running, 1 done, 0 stopped early, 1 errored")


def test_concurrent_runs_are_set_up_one_at_a_time():
    """The turn passes when a run's progress callback is set up, not when its whole search ends."""
    order: list[str] = []
    gate = threading.Event()

    def run(label: str, *, hold: bool) -> None:
        class Tuner:
            def fit(self) -> None:
                order.append(f"{label} set up")
                started_event(label).set()  # what ProgressCallback.setup does
                if hold:
                    gate.wait(5)
                order.append(f"{label} ended")

        fit_in_turn(Tuner, label)

    first = threading.Thread(target=run, args=("weave",), kwargs={"hold": True})
    first.start()
    while "weave set up" not in order:
        time.sleep(0.01)
    run("marble", hold=False)  # does not wait for weave's search to end
    gate.set()
    first.join()
    assert order == ["weave set up", "marble set up", "marble ended", "weave ended"]


def test_a_total_limit_is_shared_by_every_search_of_a_driver():
    slots = TrialSlots(2)
    assert slots.take("a") and slots.take("b") and not slots.take("c")
    assert slots.take("a")  # a trial holding a slot keeps it
    slots.give("a")
    assert slots.take("c")
    register_total_limit("exp", 1)
    assert trial_slots("exp").limit == 1 and trial_slots("other") is None
    register_total_limit("exp", None)
    assert trial_slots("exp") is None
