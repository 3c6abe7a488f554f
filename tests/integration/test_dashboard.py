"""`glass-tune dashboard` on a finished search: TensorBoard and optuna-dashboard on loopback, ended by Ctrl-C.

Each dashboard here starts as a script's ``cmd &`` starts it, SIGINT ignored on entry: Python then
leaves Ctrl-C ignored unless the dashboard handles it itself, so the outcome does not depend on
whether pytest runs in a terminal or in the background (issue 25: it hung only in the latter).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from glass_tune.report.dashboard import STOP_TIMEOUT_S
from tests.helpers import wait_until
from tests.helpers.processes import cli_argv, kill_session, start, wait_for_text
from tests.helpers.searched import CATEGORIES, trial_dirs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.xdist_group("shared-search"),
]  # a finished embedded Ray search, and the dashboard's processes

# Ctrl-C must end the dashboard within a few seconds: its servers' SIGTERM grace, and slack for a busy machine.
EXIT_BUDGET_S = STOP_TIMEOUT_S + 10


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _listen_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on ``port`` (from /proc/net/tcp and tcp6, as hex)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def _children(pid: int) -> list[int]:
    return [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]


def _serving(experiment: Path) -> dict[int, str]:
    """Live processes whose command line names the experiment (pid: command line): servers and their helpers."""
    found = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if entry.name.isdigit() and str(experiment) in cmdline:
                found[int(entry.name)] = cmdline
    return found


def _start_dashboard(experiment: Path, log: Path) -> subprocess.Popen:
    """The dashboard in its own session, SIGINT ignored on entry; PYTHONFAULTHANDLER: SIGABRT prints its stacks."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]), "PYTHONFAULTHANDLER": "1"}
    return start(["sh", "-c", 'trap "" INT; exec "$@"', "sh", *cli_argv("dashboard", str(experiment))], log, env)


def _ctrl_c(proc: subprocess.Popen, log: Path, experiment: Path) -> None:
    """Ctrl-C: the dashboard exits 0 within EXIT_BUDGET_S and leaves no server behind; a hang fails with its stacks."""
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=EXIT_BUDGET_S)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        proc.wait(timeout=10)
        pytest.fail(f"still running {EXIT_BUDGET_S:g} s after Ctrl-C; its log and stacks:\n{log.read_text()[-6000:]}")
    assert code == 0, log.read_text()[-3000:]
    wait_until(lambda: not _serving(experiment), 5, 0.1, describe=lambda: f"left behind: {_serving(experiment)}")


def _end(proc: subprocess.Popen, experiment: Path) -> None:
    """Whatever a failed test left: the dashboard's session and every server's (each leads its own)."""
    for sid in [proc.pid, *_serving(experiment)]:
        kill_session(sid)
    proc.wait()


def test_dashboard_serves_tensorboard_and_optuna_on_loopback(experiment, tmp_path):
    log = tmp_path / "dashboard.log"
    proc = _start_dashboard(experiment, log)
    try:
        wait_for_text(log, "serving on", proc, 90)
        urls = dict(line.split(": ", 1) for line in log.read_text().splitlines() if ": http" in line)
        children = _children(proc.pid)
        assert len(children) == 2
        for url in urls.values():
            parsed = urllib.parse.urlparse(url)
            assert parsed.hostname == "127.0.0.1"
            assert _listen_addresses(parsed.port) == {"0100007F"}  # 127.0.0.1 only
        tb = urls["TensorBoard"]
        trial = trial_dirs(experiment / "weave")[0]
        run = f"weave/{trial.name}"
        wait_until(lambda: run in _get_json(tb + "data/plugin/scalars/tags"), 60, 1)  # loaded in the background
        points = _get_json(tb + "data/plugin/scalars/scalars?" + urllib.parse.urlencode({"run": run, "tag": "auroc/image"}))
        reported = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        assert [p[1] for p in points] == [r["epoch"] for r in reported]
        assert [p[2] for p in points] == pytest.approx([r["image_auroc"] for r in reported], abs=1e-6)
        studies = _get_json(urls["optuna-dashboard"] + "api/studies")["study_summaries"]
        assert {s["study_name"] for s in studies} == {f"rep/{c}" for c in CATEGORIES}
        study_id = next(s["study_id"] for s in studies if s["study_name"] == "rep/weave")
        detail = _get_json(urls["optuna-dashboard"] + f"api/studies/{study_id}")
        assert len(detail["trials"]) == 3
        _ctrl_c(proc, log, experiment)
    finally:
        _end(proc, experiment)


@pytest.mark.parametrize("started", [1, 2], ids=["first-server-forked", "both-forked"])
def test_ctrl_c_during_start_up_stops_the_servers_already_started(experiment, tmp_path, started):
    """The moments that used to lose a server: Ctrl-C inside or just after a server's ``Popen``."""
    log = tmp_path / "dashboard.log"
    proc = _start_dashboard(experiment, log)

    def forked() -> bool:
        assert proc.poll() is None, log.read_text()[-2000:]
        return len(_children(proc.pid)) >= started

    try:
        wait_until(forked, 60, 0.005)
        _ctrl_c(proc, log, experiment)
        assert "serving on" not in log.read_text()
    finally:
        _end(proc, experiment)
