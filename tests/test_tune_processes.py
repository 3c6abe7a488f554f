"""Searches in real processes: a driver killed with SIGKILL and resumed, and a real `ray start` cluster.

Every process a test starts runs in its own session and is killed by session id at the end, so no
Ray daemon outlives the test (``ray stop`` would kill every Ray on the machine).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml

from glass_tune.cli import main
from tests.helpers import TINY
from tests.study_helpers import study_storage

pytestmark = pytest.mark.integration  # embedded Ray searches, subprocess drivers, kills

SPACE = {
    "params": {"step": {"type": "int", "low": 2, "high": 6}},
    "points_to_evaluate": [{"step": 5}],
}


def _session_pids(sid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid and fields[0] != "Z":  # fields 3 and 6 of /proc/PID/stat: state, session
            pids.append(int(entry.name))
    return pids


def _kill_session(sid: int) -> None:
    for _ in range(20):
        pids = _session_pids(sid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.25)


def _start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        args, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, env=env or os.environ.copy()
    )


@pytest.fixture
def inputs(tmp_path, synthetic_root):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({k: v for k, v in TINY.items() if k != "epochs"}))
    space = tmp_path / "space.yaml"
    space.write_text(yaml.safe_dump(SPACE))
    return config, space, synthetic_root


def _tune_cmd(inputs, storage: Path, *extra: str) -> list[str]:
    config, space, data = inputs
    return [
        sys.executable,
        "-m",
        "glass_tune.cli",
        "tune",
        "--data",
        str(data),
        "--category",
        "weave",
        "--config",
        str(config),
        "--space",
        str(space),
        "--storage",
        str(storage),
        *extra,
    ]


def _reported_epochs(category_dir: Path) -> dict[str, int]:
    out = {}
    for trial in sorted(category_dir.glob("trial_*")):
        metrics = trial / "run" / "metrics.json"
        out[trial.name] = len(json.loads(metrics.read_text())["history"]) if metrics.is_file() else 0
    return out


def test_sigkill_driver_then_resume_finishes_every_trial_once(inputs, tmp_path, capsys):
    storage = tmp_path / "runs"
    args = _tune_cmd(
        inputs,
        storage,
        "--name",
        "k9",
        "--samples",
        "4",
        "--epochs",
        "3",
        "--scheduler",
        "fifo",
        "--max-concurrent",
        "1",
        "--checkpoint-every",
        "1",
    )
    driver = _start(args, tmp_path / "first.log")
    category = storage / "k9" / "weave"
    statuses = []  # `glass-tune status` while the driver writes the experiment: read-only, never failing
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            epochs = _reported_epochs(category) if category.is_dir() else {}
            if (storage / "k9" / "search.yaml").is_file():
                statuses.append((main(["status", str(storage / "k9")]), capsys.readouterr()))
            if sum(epochs.values()) >= 2:  # mid-search: at least one trial has trained and reported
                break
            assert driver.poll() is None, (tmp_path / "first.log").read_text()[-2000:]
            time.sleep(0.5)
        else:
            pytest.fail("the search never reported a result")
        os.kill(driver.pid, signal.SIGKILL)
    finally:
        _kill_session(driver.pid)
        driver.wait()
    assert len(_reported_epochs(category)) < 4 or min(_reported_epochs(category).values()) < 3
    assert statuses and all(code == 0 and not out.err for code, out in statuses), statuses
    assert any("[weave] running:" in out.out and "of 4" in out.out for _, out in statuses), statuses
    assert not any("[weave] finished" in out.out for _, out in statuses)

    resumed = subprocess.run(
        _tune_cmd(inputs, storage, "--name", "k9", "--resume"),
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
    )
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming the interrupted search" in resumed.stdout

    final = _reported_epochs(category)
    assert len(final) == 4, final  # none lost, none duplicated
    assert set(final.values()) == {3}, final  # every trial ran to its last epoch (FIFO)
    study = optuna.load_study(study_name="k9/weave", storage=study_storage(storage / "k9"))
    states = [t.state for t in study.trials]
    assert optuna.trial.TrialState.RUNNING not in states
    assert states.count(optuna.trial.TrialState.COMPLETE) == 4, states
    assert (category / "best_config.yaml").is_file()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_search_on_a_real_local_cluster_through_address(inputs, tmp_path):
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head = _start(
        [ray_bin, "start", "--head", "--port", str(port), "--num-cpus", "2", "--include-dashboard=false", "--block"],
        tmp_path / "head.log",
        env,
    )
    try:
        deadline = time.monotonic() + 60
        while "Ray runtime started" not in (tmp_path / "head.log").read_text():
            assert time.monotonic() < deadline and head.poll() is None, (tmp_path / "head.log").read_text()[-2000:]
            time.sleep(0.5)
        storage = tmp_path / "runs"
        run = subprocess.run(
            _tune_cmd(inputs, storage, "--name", "cl", "--samples", "2", "--epochs", "1", "--address", f"127.0.0.1:{port}"),
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            start_new_session=True,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert f"connected to Ray cluster at 127.0.0.1:{port}: 2 CPU" in run.stdout
        assert len(_reported_epochs(storage / "cl" / "weave")) == 2
        assert (storage / "cl" / "weave" / "best_config.yaml").is_file()
    finally:
        _kill_session(head.pid)
        head.wait()
    assert _session_pids(head.pid) == []


def test_ctrl_c_exports_nothing_and_says_how_to_resume(inputs, tmp_path):
    storage = tmp_path / "runs"
    args = _tune_cmd(
        inputs, storage, "--name", "cc", "--samples", "3", "--epochs", "3", "--scheduler", "fifo", "--max-concurrent", "1"
    )
    driver = _start(args, tmp_path / "driver.log")
    category = storage / "cc" / "weave"
    try:
        deadline = time.monotonic() + 240
        while sum((_reported_epochs(category) if category.is_dir() else {}).values()) < 1:
            assert time.monotonic() < deadline and driver.poll() is None, (tmp_path / "driver.log").read_text()[-2000:]
            time.sleep(0.5)
        os.kill(driver.pid, signal.SIGINT)
        code = driver.wait(timeout=120)
    finally:
        _kill_session(driver.pid)
        driver.wait()
    log = (tmp_path / "driver.log").read_text()
    assert code == 130, log[-3000:]
    assert "interrupted" in log and "glass-tune tune --resume --name cc" in log
    assert not (category / "best_config.yaml").exists()
