"""`glass-tune dashboard` on a finished search: TensorBoard and optuna-dashboard on loopback, ended by Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.helpers.searched import CATEGORIES, trial_dirs

pytestmark = pytest.mark.integration  # a finished embedded Ray search, and the dashboard's processes


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


def test_dashboard_serves_tensorboard_and_optuna_on_loopback(experiment):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "glass_tune.cli", "dashboard", str(experiment)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    children: list[int] = []
    try:
        urls = {}
        while len(urls) < 2:
            line = proc.stdout.readline()
            assert line, f"dashboard exited early (code {proc.poll()})"
            name, _, url = line.strip().partition(": ")
            if url.startswith("http"):
                urls[name] = url
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
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=30) == 0
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    finally:
        for pid in [proc.pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()
