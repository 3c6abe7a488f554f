"""An experiment moved between interruptions resumes where it now is.

A search is stopped (Ctrl-C) after its first trial has reported, copied to another storage (the
original stays) and resumed there; stopped again in its confirmation stage, moved to a third storage
(the second is deleted) and resumed to the end. Every trial, including those created after each
resume, is stored in the last location; the original is read by nothing and written by nothing,
and the deleted one is not recreated.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from glass_tune.experiment.results import checkpoint_file, load_trials
from glass_tune.experiment.storage import resolve
from tests.helpers import wait_until
from tests.helpers.processes import ONE_TRIAL_AT_A_TIME, cli_argv, kill_session, reported_epochs, tune_cmd

pytestmark = [pytest.mark.integration, pytest.mark.slow]  # about 4 minutes on 2 busy cores

NAME, SAMPLES = "moved", 3
CONFIRM_RUNS = 2 * 2  # --confirm-top 1: the paper default and the best trial, on 2 seeds each


def _interrupt_when(args: list[str], log: Path, moment: Callable[[], bool]) -> None:
    """Run a driver, press Ctrl-C (SIGINT) once ``moment()`` holds; it saves its state and exits 130."""
    driver = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_until(lambda: moment() or driver.poll() is not None, 600, 0.2, describe=lambda: log.read_text()[-2000:])
        assert driver.poll() is None, f"ended before the moment: {log.read_text()[-2000:]}"
        os.kill(driver.pid, signal.SIGINT)
        assert driver.wait(timeout=300) == 130, log.read_text()[-3000:]
    finally:
        kill_session(driver.pid)  # the driver's embedded Ray, should any of it outlive the driver
        driver.wait()


def _resume(storage: Path, log: Path, moment: Callable[[], bool] | None = None) -> None:
    args = cli_argv("tune", "--resume", "--name", NAME, "--storage", str(storage))
    if moment is not None:
        return _interrupt_when(args, log, moment)
    driver = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    try:
        assert driver.wait(timeout=900) == 0, log.read_text()[-3000:]
    finally:
        kill_session(driver.pid)
        driver.wait()
    return None


def _reported(run_dir: Path) -> bool:
    """One trial of the Ray run has reported an epoch (one at a time: the others are yet to come)."""
    return run_dir.is_dir() and any(reported_epochs(run_dir).values())


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in sorted(folder.rglob("*"))}


def _trial_folders(run_dir: Path) -> set[str]:
    return {p.name for p in run_dir.glob("trial_*")}


def _check_trials_stored_in(run_dir: Path, *, count: int) -> None:
    trials = load_trials(category_dir=resolve(str(run_dir)))
    assert len(trials) == count and {t.status for t in trials} == {"TERMINATED"}, [(t.trial_id, t.status) for t in trials]
    assert _trial_folders(run_dir) == {t.folder for t in trials}
    for t in trials:  # the trial's own outputs (written by its worker), not only Ray's driver-side records
        folder = run_dir / t.folder
        assert json.loads((folder / "run" / "metrics.json").read_text())["history"], folder
        assert list(folder.glob("checkpoint_*/checkpoint.pt")) and list(folder.glob("events.out.tfevents.*")), folder
        kept = checkpoint_file(trial=t, category_dir=resolve(str(run_dir)))  # the index names it relative to the category
        assert kept is not None and kept.is_file() and kept.path.startswith(str(folder)), t.checkpoint


def test_experiment_moved_twice_resumes_where_it_now_is(inputs, tmp_path):
    first, second, third = tmp_path / "disk1", tmp_path / "disk2", tmp_path / "disk3"
    start = tune_cmd(
        inputs, first, "--name", NAME, "--samples", str(SAMPLES), "--epochs", "1", "--seed", "0", *ONE_TRIAL_AT_A_TIME,
        "--confirm-top", "1", "--confirm-seeds", "2",
    )  # fmt: skip
    _interrupt_when(start, tmp_path / "run1.log", lambda: _reported(first / NAME / "weave"))
    before_resume = _trial_folders(first / NAME / "weave")
    assert len(before_resume) < SAMPLES

    # copied to another disk, the original left in place: it must not change from here on
    shutil.copytree(first / NAME, second / NAME)
    original = _snapshot(first)
    _resume(second, tmp_path / "run2.log", lambda: _reported(second / NAME / "weave" / "confirm"))
    assert "its new trials are stored here" in (tmp_path / "run2.log").read_text()
    assert (second / NAME / "weave" / "finalists.json").is_file()

    # moved to a third disk, the second deleted: it must not come back
    shutil.move(second / NAME, third / NAME)
    shutil.rmtree(second)
    _resume(third, tmp_path / "run3.log")

    category = third / NAME / "weave"
    _check_trials_stored_in(category, count=SAMPLES)
    _check_trials_stored_in(category / "confirm", count=CONFIRM_RUNS)
    assert _trial_folders(category) - before_resume  # trials created after a resume are here too
    assert (category / "best_config.yaml").is_file() and (category / "confirmation.json").is_file()
    assert _snapshot(first) == original and not second.exists()
    for log in tmp_path.glob("run*.log"):
        assert "Traceback" not in log.read_text(), log.read_text()[-3000:]

    status = subprocess.run(cli_argv("status", str(third / NAME)), capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and f"[weave] finished: 0 running, 0 pending, {SAMPLES} finished" in status.stdout, (
        status.stdout + status.stderr
    )
