"""Helpers for tests that run glass-tune and Ray in real processes (drivers, clusters, kills).

Every process a test starts runs in its own session (or PID namespace) and is killed by session id
or namespace at the end, so no Ray daemon outlives the test; never ``ray stop``, which would kill
every Ray on the machine.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.helpers.polling import wait_until
from tests.helpers.tiny import STEP_SPACE, write_tiny_config

# One trial at a time with a checkpoint every epoch: a kill lands between known states.
ONE_TRIAL_AT_A_TIME = ("--scheduler", "fifo", "--max-concurrent", "1", "--checkpoint-every", "1")


def cli_argv(*args: str) -> list[str]:
    """The command line of ``glass-tune ARGS`` in this interpreter."""
    return [sys.executable, "-m", "glass_tune.cli", *args]


VENV_BIN = str(Path(sys.executable).parent)


def user_env() -> dict[str, str]:
    """The user's shell: the venv first on PATH (a Ray head's `python` runs jobs), token auth, no Ray address."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    return {**env, "RAY_AUTH_MODE": "token", "PATH": f"{VENV_BIN}:{env.get('PATH', '')}"}


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``glass-tune ARGS`` as a process in ``user_env()``, output captured."""
    return subprocess.run(cli_argv(*args), capture_output=True, text=True, timeout=timeout, env=user_env())


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit 2 with one stderr line (no traceback) that contains every fragment."""
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def write_search_inputs(folder: Path) -> tuple[Path, Path]:
    """The tiny CPU profile (epochs left to the command line) and ``STEP_SPACE`` as YAML files."""
    config, space = folder / "tiny.yaml", folder / "space.yaml"
    write_tiny_config(config)
    space.write_text(yaml.safe_dump(STEP_SPACE))
    return config, space


def tune_cmd(inputs: tuple[Path, Path, Path], storage: Path, *extra: str) -> list[str]:
    """``glass-tune tune`` on the weave category of ``inputs`` = (config, space, data root)."""
    config, space, data = inputs
    return cli_argv(
        "tune", "--data", str(data), "--category", "weave", "--config", str(config), "--space", str(space),
        "--storage", str(storage), *extra,
    )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def session_pids(sid: int) -> list[int]:
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


def kill_session(sid: int) -> None:
    for _ in range(20):
        pids = session_pids(sid)
        if not pids:
            return
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.25)


def start(args: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        args, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, env=env or os.environ.copy()
    )


def wait_for_text(log: Path, text: str, proc: subprocess.Popen, timeout: float) -> None:
    """Wait until ``text`` appears in the log of ``proc`` (a server starting); fail if it exits first."""

    def printed() -> bool:
        assert proc.poll() is None, log.read_text()[-2000:]
        return text in log.read_text()

    wait_until(printed, timeout, describe=lambda: log.read_text()[-2000:])


def reported_epochs(category_dir: Path) -> dict[str, int]:
    """Epochs each trial folder's run/metrics.json records (0 before its first evaluation)."""
    out = {}
    for trial in sorted(category_dir.glob("trial_*")):
        metrics = trial / "run" / "metrics.json"
        out[trial.name] = len(json.loads(metrics.read_text())["history"]) if metrics.is_file() else 0
    return out


def _namespace_init(unshare_pid: int) -> int | None:
    """The first process inside the PID namespace that ``unshare --fork`` created."""
    try:
        children = Path(f"/proc/{unshare_pid}/task/{unshare_pid}/children").read_text().split()
    except OSError:
        return None
    return int(children[0]) if children else None


def run_until(args: list[str], log: Path, moment: Callable[[], bool], timeout: float = 300) -> bool:
    """Run a driver in its own PID namespace; SIGKILL the namespace when ``moment()`` is true.

    Returns whether it was killed (False: it ended by itself first).
    """
    proc = subprocess.Popen(
        ["unshare", "--pid", "--fork", "--mount-proc", *args],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        init = wait_until(
            lambda: "ended" if proc.poll() is not None else moment() and _namespace_init(proc.pid),
            timeout,
            0.1,
            describe=lambda: f"moment never came: {log.read_text()[-2000:]}",
        )
        if init == "ended":
            return False
        os.kill(init, signal.SIGKILL)
        proc.wait(timeout=60)
        return True
    finally:
        kill_session(proc.pid)
        proc.wait()
