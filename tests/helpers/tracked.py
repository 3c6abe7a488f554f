"""Tracking helpers: a real MLflow server in its own process session, a hand-made experiment with
trial histories, and the queries the tracking tests check MLflow with."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from glass_tune.experiment.best_config import BEST_CONFIG_FILE
from tests.helpers import TINY
from tests.helpers.hand_made import HandTrial, write_category
from tests.helpers.polling import wait_until
from tests.helpers.processes import free_port

MLFLOW = str(Path(sys.executable).parent / "mlflow")
EPOCHS = 3


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def start_mlflow_server(folder: Path, *, port: int) -> tuple[subprocess.Popen, str]:
    """``mlflow server`` with a SQLite store and a local artifact store in ``folder`` on 127.0.0.1:``port``,
    answering; returns the process and its URL. Stop it with :func:`stop_process_group`.

    It runs in its own process session: mlflow 3.18's server starts worker and job processes that
    outlive a signal to the server alone. One worker and no job runner (the registry does not need
    it) start in about 10 s instead of 40 on 2 cores.
    """
    folder.mkdir(parents=True, exist_ok=True)
    url = f"http://127.0.0.1:{port}"
    argv = [
        MLFLOW, "server", "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    with (folder / "server.log").open("ab") as log:
        server = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)

    def up() -> bool:
        assert server.poll() is None, (folder / "server.log").read_text()[-2000:]
        return _answers(url)

    try:
        wait_until(up, timeout=180, describe=lambda: (folder / "server.log").read_text()[-2000:])
    except BaseException:
        stop_process_group(server)
        raise
    return server, url


@contextlib.contextmanager
def mlflow_server(folder: Path, *, port: int | None = None) -> Iterator[str]:
    """A server (:func:`start_mlflow_server`) for the block; yields its URL."""
    server, url = start_mlflow_server(folder, port=port or free_port())
    try:
        yield url
    finally:
        stop_process_group(server)


def stop_process_group(process: subprocess.Popen) -> None:
    """SIGTERM to the process's session, SIGKILL to what is left after 15 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=15)


# --- a hand-made experiment whose trials have histories --------------------------------------------


def trial_config(step: int, **extra: Any) -> dict[str, Any]:
    return {**TINY, "category": "weave", "seed": 0, "step": step, "svd": 0, "epochs": EPOCHS, "searched": ["step"], **extra}


def report(epoch: int, score: float, **extra: Any) -> dict[str, Any]:
    """A trial's report as Ray hands it over (with its bookkeeping keys)."""
    return {
        "epoch": epoch, "score": score, "best_score": score, "best_epoch": epoch, "image_auroc": score / 2,
        "timestamp": 1_700_000_000 + 10 * epoch, "time_total_s": 10.0 * epoch, "training_iteration": epoch, "pid": 4242,
        "done": False, **extra,
    }  # fmt: skip


def write_search_record(root: Path, *, name: str = "hand", categories: Sequence[str] = ("weave",)) -> None:
    record = {
        "options": {"name": name, "samples": 3, "scheduler": "asha", "sampler": "tpe", "seed": 0, "confirm_top": 0},
        "categories": list(categories),
        "space": {
            "name": "step",
            "metric": "best_score",
            "mode": "max",
            "params": {"step": {"type": "int", "low": 2, "high": 6}},
        },
        "base_config": {**TINY, "epochs": EPOCHS, "svd": "auto"},
    }
    root.mkdir(parents=True, exist_ok=True)
    (root / "search.yaml").write_text(yaml.safe_dump(record))


def hand_trials() -> list[tuple[HandTrial, list[dict[str, Any]]]]:
    """Three trials and their reports: one completed, one stopped early by the scheduler, one errored."""
    done = [report(e, 0.5 + 0.1 * e) for e in range(1, EPOCHS + 1)]
    done[-1] |= {"test_image_auroc": 0.81, "image_threshold": 0.4, "image_rule": "F1-optimal on validation"}
    stopped = [report(1, 0.3)]
    return [
        (HandTrial("done", trial_config(5), done[-1]), done),
        (HandTrial("stopped", trial_config(3), stopped[-1]), stopped),
        (HandTrial("broken", trial_config(2), {}, status="ERROR", error="DataError: data root not found"), []),
    ]


def write_tracked_experiment(root: Path) -> Path:
    """A finished hand-made search of ``weave`` (no confirmation): records, Ray's result.json histories,
    an exported config. Returns the experiment folder."""
    write_search_record(root)
    trials = hand_trials()
    category = root / "weave"
    write_category(category, [t for t, _ in trials])
    for trial, reports in trials:
        (category / trial.folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in reports))
    (category / BEST_CONFIG_FILE).write_text("step: 5\n")
    return root


# --- what MLflow holds -----------------------------------------------------------------------------


def runs_of(client, experiment: str) -> dict[str, Any]:
    """The MLflow experiment's runs by run name."""
    found = client.get_experiment_by_name(experiment)
    assert found is not None, f"no MLflow experiment {experiment}"
    return {r.info.run_name: r for r in client.search_runs([found.experiment_id], max_results=1000)}


def history(client, run, key: str) -> list[tuple[int, float]]:
    return sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))


def screenshot(url: str, out: Path) -> Path:
    """The MLflow UI page ``url`` in headless Chromium as a PNG (make test installs Chromium)."""
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is required (make test installs the Debian package chromium)"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    profile = out.parent / "chromium-profile"
    argv = [chromium, *flags, f"--user-data-dir={profile}", "--window-size=1600,900", "--virtual-time-budget=20000"]
    subprocess.run([*argv, f"--screenshot={out}", url], capture_output=True, timeout=180, check=True)
    return out
