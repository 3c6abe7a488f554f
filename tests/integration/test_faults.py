"""Fault injection: the driver (with its embedded Ray) killed at many moments, and a killed trial.

The driver runs as the first process of its own PID namespace, so SIGKILL to it takes every Ray
process of that search with it, as a machine crash would.  After each kill ``--resume`` continues;
at the end every trial ran once, the study holds no RUNNING trial and one finished trial per Ray
trial, every trial ran on the user's base config plus its suggestion, and no run printed a traceback.
The kills sweep the start-up sequence (record written; study created and tuner.pkl written before
Ray's first snapshot; then one of first trial folder, first snapshot or a random second in the
first 40, or the first epoch if sooner), then mid-trial and after a finished trial;
GLASS_FAULT_SEED replays the random choice.
"""

from __future__ import annotations

import functools
import json
import os
import random
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import optuna
import pytest

from glass_tune.experiment.results import load_trials
from glass_tune.experiment.storage import resolve
from tests.helpers import TINY, wait_until
from tests.helpers.processes import (
    ONE_TRIAL_AT_A_TIME,
    cli_argv,
    kill_session,
    reported_epochs,
    run_until,
    session_pids,
    tune_cmd,
)
from tests.helpers.study import study_storage

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs unshare and root for PID namespaces"),
]


def _finished_in_study(experiment: Path) -> int:
    try:
        study = optuna.load_study(study_name=f"{experiment.name}/weave", storage=study_storage(experiment))
    except (KeyError, FileNotFoundError):
        return 0
    return sum(1 for t in study.trials if t.state.is_finished())


def _check_invariants(experiment: Path, *, samples: int, epochs: int) -> None:
    trials = load_trials(category_dir=resolve(str(experiment / "weave")))
    assert len(trials) == samples and {t.status for t in trials} == {"TERMINATED"}, [(t.trial_id, t.status) for t in trials]
    for t in trials:  # each trial trained every epoch exactly once (resumed from its checkpoint)
        history = json.loads((experiment / "weave" / t.folder / "run" / "metrics.json").read_text())["history"]
        assert [h["epoch"] for h in history] == list(range(1, epochs + 1)), (t.trial_id, history)
    study = optuna.load_study(study_name=f"{experiment.name}/weave", storage=study_storage(experiment))
    assert all(s.state.is_finished() for s in study.trials), [s.state for s in study.trials]
    by_ray: dict[str, list] = {}
    for s in study.trials:
        by_ray.setdefault(s.system_attrs.get("ray_trial_id"), []).append(s)
    for t in trials:
        owned = by_ray.get(t.trial_id, [])
        assert [s.state for s in owned] == [optuna.trial.TrialState.COMPLETE], (t.trial_id, owned)
        assert owned[0].value == pytest.approx(t.last_result["best_score"])
    strays = [s for s in study.trials if s.system_attrs.get("ray_trial_id") not in {t.trial_id for t in trials}]
    assert all(s.state == optuna.trial.TrialState.FAIL and s.system_attrs.get("fail_reason") for s in strays)


def _check_trial_configs(experiment: Path) -> None:
    """Every trial ran on the user's base config plus its own suggestion, never on defaults."""
    base = json.loads((experiment / "weave" / "search_base.json").read_text())
    assert {k: base[k] for k in TINY if k != "epochs"} == {k: v for k, v in TINY.items() if k != "epochs"}
    for params_file in sorted((experiment / "weave").glob("trial_*/params.json")):
        params = json.loads(params_file.read_text())
        unsearched = {k: v for k, v in base.items() if k not in base["searched"]}
        assert {k: params.get(k) for k in unsearched} == unsearched, params_file
        assert set(params) == set(base), params_file


def _newer(paths: list[Path], since: float) -> bool:
    return any(p.stat().st_mtime >= since for p in paths if p.exists())


@dataclass(frozen=True)
class Moment:
    """When to kill a driver, judged on what it wrote since it started (``since``, wall-clock)."""

    name: str
    reached: Callable[[float], bool]


def _moments(exp: Path, rng: random.Random) -> list[Moment]:
    """Five kills, one per run: the start-up sequence, one of its later steps at random, mid-run."""
    category = exp / "weave"
    start: dict[str, object] = {}  # each moment is used by one run: what it saw first

    def new_trial_folder(since: float) -> bool:
        names = {p.name for p in category.glob("trial_*")}
        return bool(names - start.setdefault("folders", names))

    def one_more_epoch(since: float) -> bool:
        total = sum(reported_epochs(category).values()) if category.is_dir() else 0
        return total > start.setdefault("epochs", total)

    def one_more_finished(since: float) -> bool:
        return _finished_in_study(exp) > start.setdefault("finished", _finished_in_study(exp))

    def seconds_in_start_up(since: float) -> bool:
        # Capped at the first epoch: on a fast machine the whole resumed search can end before a
        # late random second, and what this moment sweeps is the start-up window anyway.
        return time.time() - since >= seconds or one_more_epoch(since)

    seconds = rng.uniform(1, 40)
    later_step = rng.choice(
        [
            Moment("a trial folder is created", new_trial_folder),
            Moment("Ray's first snapshot", lambda since: _newer(list(category.glob("experiment_state-*.json")), since)),
            Moment(f"{seconds:.1f} s after start or the first epoch", seconds_in_start_up),
        ]
    )
    return [
        Moment("the record is written", lambda since: (exp / "search.yaml").is_file()),
        Moment("tuner.pkl written", lambda since: _newer([category / "tuner.pkl"], since)),  # the study was just created
        later_step,
        Moment("in the middle of a trial", one_more_epoch),
        Moment("right after a trial finished", one_more_finished),
    ]


@pytest.mark.slow  # about 3 minutes: `make test-resilience` (CI runs it after `make test`)
def test_driver_killed_across_the_start_up_window_then_resumed(inputs, tmp_path):
    """One kill per moment (see _moments), each run resuming the one before."""
    seed = int(os.environ.get("GLASS_FAULT_SEED", time.time_ns() % 10_000))
    storage = tmp_path / "runs"
    exp = storage / "faults"
    first = tune_cmd(inputs, storage, "--name", "faults", "--samples", "3", "--epochs", "3", *ONE_TRIAL_AT_A_TIME)
    resume = cli_argv("tune", "--resume", "--name", "faults", "--storage", str(storage))
    killed = []
    for number, moment in enumerate(_moments(exp, random.Random(seed)), start=1):
        since = time.time()
        if run_until(first if number == 1 else resume, tmp_path / f"run{number}.log", functools.partial(moment.reached, since)):
            snapshot = _newer(list((exp / "weave").glob("experiment_state-*.json")), since)
            killed.append(f"{moment.name} at {time.time() - since:.1f} s{', after' if snapshot else ', before'} a snapshot")
    story = f"GLASS_FAULT_SEED={seed}; killed: {killed}"
    assert len(killed) == 5, story
    assert killed[1].startswith("tuner.pkl") and killed[1].endswith("before a snapshot"), story  # the kill issue 19 found

    final = subprocess.run(resume, capture_output=True, text=True, timeout=600, start_new_session=True)
    assert final.returncode == 0, story + final.stdout[-3000:] + final.stderr[-3000:]
    for log in [final.stdout + final.stderr, *(p.read_text() for p in tmp_path.glob("run*.log"))]:
        assert "Traceback" not in log and "UpdateFinishedTrialError" not in log and "ERRORED" not in log, story + log[-3000:]
    _check_invariants(exp, samples=3, epochs=3)
    _check_trial_configs(exp)
    status = subprocess.run(cli_argv("status", str(exp)), capture_output=True, text=True, timeout=120)
    assert status.returncode == 0 and "[weave] finished: 0 running, 0 pending, 3 finished" in status.stdout, status.stdout


def _trial_actor_pids(sid: int) -> list[int]:
    pids = []
    for pid in session_pids(sid):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "ImplicitFunc" in cmdline or "train_glass" in cmdline:
            pids.append(pid)
    return pids


def test_killed_trial_process_restarts_from_its_checkpoint(inputs, tmp_path):
    storage = tmp_path / "runs"
    args = tune_cmd(
        inputs,
        storage,
        "--name",
        "mf",
        "--samples",
        "1",
        "--epochs",
        "4",
        "--scheduler",
        "fifo",
        "--checkpoint-every",
        "1",
        "--max-failures",
        "1",
    )
    driver = subprocess.Popen(args, stdout=(tmp_path / "mf.log").open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    category = storage / "mf" / "weave"
    killed = []
    try:

        def trial_actors() -> list[int] | str:
            if driver.poll() is not None:
                return "ended"
            # two epochs synced: the first one's checkpoint has surely reached the driver's record
            synced = category.is_dir() and sum(reported_epochs(category).values()) >= 2
            return synced and _trial_actor_pids(driver.pid)

        found = wait_until(trial_actors, 300, 0.1, describe=lambda: (tmp_path / "mf.log").read_text()[-2000:])
        for pid in found if found != "ended" else []:
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
        code = driver.wait(timeout=600)
    finally:
        kill_session(driver.pid)
        driver.wait()
    log = (tmp_path / "mf.log").read_text()
    assert killed, log[-3000:]
    assert code == 0, log[-3000:]
    _check_invariants(storage / "mf", samples=1, epochs=4)
    trial = next(category.glob("trial_*"))
    epochs = [json.loads(line)["epoch"] for line in (trial / "result.json").read_text().splitlines()]
    assert epochs.count(1) == 1 and epochs[-1] == 4, epochs  # continued from a checkpoint, not from scratch
