"""A driver killed during the confirmation stage resumes there: same finalists, same seeds, each
confirmation run trained once, and the verdict, export and status agree at the end."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest
import yaml

from glass_tune.experiment.results import load_trials
from glass_tune.experiment.storage import resolve
from tests.helpers.processes import ONE_TRIAL_AT_A_TIME, cli_argv, reported_epochs, run_until, tune_cmd

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,  # 2-4 minutes on 2 cores
    pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs unshare and root for PID namespaces"),
]


def test_driver_killed_during_confirmation_resumes_and_finishes_it(inputs, tmp_path):
    storage = tmp_path / "runs"
    exp, epochs = storage / "cf", 3
    first = tune_cmd(
        inputs, storage, "--name", "cf", "--samples", "2", "--epochs", str(epochs), *ONE_TRIAL_AT_A_TIME,
        "--confirm-top", "1", "--confirm-seeds", "2",
    )  # fmt: skip
    confirm = exp / "weave" / "confirm"
    # killed in the middle of the second confirmation run: one run done, the next one has reported
    assert run_until(
        first, tmp_path / "run1.log", lambda: confirm.is_dir() and sorted(reported_epochs(confirm).values())[-2:] == [1, epochs]
    )
    recorded = json.loads((exp / "weave" / "finalists.json").read_text())
    status = subprocess.run(cli_argv("status", str(exp)), capture_output=True, text=True, timeout=120)
    assert "[weave] confirming:" in status.stdout and "[weave] confirmation of default, " in status.stdout, status.stdout

    resume = cli_argv("tune", "--resume", "--name", "cf", "--storage", str(storage))
    final = subprocess.run(resume, capture_output=True, text=True, timeout=600, start_new_session=True)
    out = final.stdout + final.stderr
    assert final.returncode == 0, out[-3000:]
    assert "search finished; resuming its confirmation" in out and "Traceback" not in out

    assert json.loads((exp / "weave" / "finalists.json").read_text()) == recorded  # the same race
    trials = load_trials(category_dir=resolve(str(confirm)))
    names = [f["name"] for f in recorded["finalists"]]
    assert sorted((t.config["finalist"], t.config["seed"]) for t in trials) == sorted(
        (n, s) for n in names for s in recorded["seeds"]
    )
    for t in trials:  # every confirmation run trained each epoch once (the killed one from its checkpoint)
        history = json.loads((confirm / t.folder / "run" / "metrics.json").read_text())["history"]
        assert t.status == "TERMINATED" and [h["epoch"] for h in history] == list(range(1, epochs + 1))
    search = load_trials(category_dir=resolve(str(exp / "weave")))
    assert len(search) == 2  # the search was not run again

    record = json.loads((exp / "weave" / "confirmation.json").read_text())
    assert f"[weave] verdict: {record['line']}" in out
    exported = yaml.safe_load((exp / "weave" / "best_config.yaml").read_text())["provenance"]["confirmation"]
    assert exported["verdict"] == record["line"]
    status = subprocess.run(cli_argv("status", str(exp)), capture_output=True, text=True, timeout=120)
    assert f"[weave] verdict: {record['line']}" in status.stdout and "[weave] finished:" in status.stdout
