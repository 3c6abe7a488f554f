"""Searches in real processes: a real `ray start` cluster, and Ctrl-C.

(A driver killed with SIGKILL and resumed: tests/integration/test_s3.py, and at many moments the
fault sweep, tests/integration/test_faults.py.)

Every process a test starts runs in its own session and is killed by session id at the end, so no
Ray daemon outlives the test (``ray stop`` would kill every Ray on the machine).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.helpers.processes import (
    free_port,
    kill_session,
    reported_epochs,
    session_pids,
    start,
    tune_cmd,
    wait_for_text,
)

pytestmark = pytest.mark.integration  # embedded Ray searches, subprocess drivers, kills


def test_search_on_a_real_local_cluster_through_address(inputs, tmp_path):
    port = free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token"}
    ray_bin = str(Path(sys.executable).with_name("ray"))
    head = start(
        [ray_bin, "start", "--head", "--port", str(port), "--num-cpus", "2", "--include-dashboard=false", "--block"],
        tmp_path / "head.log",
        env,
    )
    try:
        wait_for_text(tmp_path / "head.log", "Ray runtime started", head, 60)
        storage = tmp_path / "runs"
        run = subprocess.run(
            tune_cmd(inputs, storage, "--name", "cl", "--samples", "2", "--epochs", "1", "--address", f"127.0.0.1:{port}"),
            capture_output=True,
            text=True,
            timeout=300,
            env=env,
            start_new_session=True,
        )
        assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
        assert f"connected to Ray cluster at 127.0.0.1:{port}: 2 CPU" in run.stdout
        assert len(reported_epochs(storage / "cl" / "weave")) == 2
        assert (storage / "cl" / "weave" / "best_config.yaml").is_file()
    finally:
        kill_session(head.pid)
        head.wait()
    assert session_pids(head.pid) == []


def test_ctrl_c_exports_nothing_and_says_how_to_resume(inputs, tmp_path):
    storage = tmp_path / "runs"
    args = tune_cmd(
        inputs, storage, "--name", "cc", "--samples", "3", "--epochs", "3", "--scheduler", "fifo", "--max-concurrent", "1"
    )
    driver = start(args, tmp_path / "driver.log")
    category = storage / "cc" / "weave"
    try:

        def reported() -> bool:
            assert driver.poll() is None, (tmp_path / "driver.log").read_text()[-2000:]
            return sum((reported_epochs(category) if category.is_dir() else {}).values()) >= 1

        wait_until(reported, 240)
        os.kill(driver.pid, signal.SIGINT)
        code = driver.wait(timeout=120)
    finally:
        kill_session(driver.pid)
        driver.wait()
    log = (tmp_path / "driver.log").read_text()
    assert code == 130, log[-3000:]
    assert "interrupted" in log and "glass-tune tune --resume --name cc" in log
    assert not (category / "best_config.yaml").exists()
