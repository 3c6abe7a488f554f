"""A search on a real two-node Ray cluster on this machine, as on a cluster with shared storage.

Everything runs inside ``unshare --pid --fork --mount-proc``: every Ray process ends with the
namespace.  The head has no CPUs, so every trial runs on the worker node, which is started inside its
own mount namespace with tmpfs over the driver's Ray temp dir and over the glass-tune cache: it can
see only the shared folder (as with NFS).  Three searches: data on the shared folder (tracked in
MLflow by the driver), the built-in data (no --data), and data that only the driver can see (every
trial errors with one line; the search exits 1).
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tests.helpers import STEP_SPACE, TINY
from tests.helpers.processes import free_port
from tests.helpers.searched import trial_dirs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,  # about 4 minutes: `make test-resilience` (CI runs it after `make test`)
    pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs unshare and root for namespaces"),
]

SEARCH = ["--category", "weave", "--confirm-top", "0", "--samples", "2", "--epochs", "2", "--scheduler", "fifo"]


def _script(root: Path, ray_tmp: Path, port: int, tune: list[list[str]]) -> str:
    # Ray's temp dirs outside pytest's deep tmp path: its socket paths may not exceed 107 bytes
    head_tmp, worker_tmp, cache = ray_tmp / "head", ray_tmp / "worker", root / "driver-cache"
    ray = Path(sys.executable).with_name("ray")
    ports = [free_port() for _ in range(6)]
    common = "--disable-usage-stats"
    runs = "\n".join(
        f"{sys.executable} -m glass_tune.cli {' '.join(args)} > {root}/tune{i}.log 2>&1; echo $? > {root}/tune{i}.rc"
        for i, args in enumerate(tune)
    )
    return textwrap.dedent(f"""\
        set -u
        export RAY_AUTH_MODE=token GLASS_TUNE_CACHE={cache} PYTHONPATH={os.getcwd()} HF_HUB_OFFLINE=1
        mkdir -p {head_tmp} {worker_tmp} {cache}
        {ray} start --head --port {port} --num-cpus 0 --temp-dir {head_tmp} {common} --include-dashboard=false \
            --dashboard-port {ports[4]} --ray-client-server-port {ports[5]} \\
            --dashboard-agent-listen-port {ports[0]} --metrics-export-port {ports[1]} > {root}/head.log 2>&1 || exit 11
        unshare --mount bash -c 'mount -t tmpfs none {head_tmp} && mount -t tmpfs none {cache} && \\
            exec {ray} start --address 127.0.0.1:{port} --num-cpus 2 --temp-dir {worker_tmp} {common} \\
            --dashboard-agent-listen-port {ports[2]} --metrics-export-port {ports[3]} --block' > {root}/worker.log 2>&1 &
        for i in $(seq 60); do
            {sys.executable} -c "import ray, sys; ray.init(address='127.0.0.1:{port}', logging_level='ERROR'); \\
sys.exit(0 if ray.cluster_resources().get('CPU', 0) >= 2 else 1)" 2>/dev/null && break
            sleep 1
        done
        grep -q "Ray runtime started" {root}/worker.log || {{ echo "worker node did not start" > {root}/tune0.log; exit 12; }}
        {runs}
        """)


@pytest.fixture(scope="module")
def cluster_runs(tmp_path_factory, synthetic_root, mlflow_url):
    root = tmp_path_factory.mktemp("cluster")
    shared = root / "shared"  # both nodes see it, like an NFS mount
    shutil.copytree(synthetic_root, shared / "data")
    config = shared / "tiny.yaml"
    config.write_text(yaml.safe_dump({k: v for k, v in TINY.items() if k not in ("epochs",)}))
    space = shared / "space.yaml"
    space.write_text(yaml.safe_dump(STEP_SPACE))
    hidden = root / "driver-cache" / "private-data"  # the worker has a tmpfs over driver-cache
    shutil.copytree(synthetic_root, hidden)
    port = free_port()
    address = [
        "--address",
        f"127.0.0.1:{port}",
        "--storage",
        str(shared / "runs"),
        "--config",
        str(config),
        "--space",
        str(space),
    ]
    tune = [
        ["tune", "--data", str(shared / "data"), "--name", "shared", *address, *SEARCH, "--mlflow", mlflow_url],
        ["tune", "--name", "builtin", *address, *SEARCH],
        ["tune", "--data", str(hidden), "--name", "hidden", *address, *SEARCH],
    ]
    script = root / "cluster.sh"
    ray_tmp = Path(tempfile.mkdtemp(prefix="gt-cl-", dir="/tmp"))
    script.write_text(_script(root, ray_tmp, port, tune))
    try:
        subprocess.run(["unshare", "--pid", "--fork", "--mount-proc", "bash", str(script)], timeout=1500, check=False)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    logs = {
        name: (root / f"tune{i}.log").read_text() if (root / f"tune{i}.log").exists() else ""
        for i, name in enumerate(("shared", "builtin", "hidden"))
    }
    codes = {
        name: (root / f"tune{i}.rc").read_text().strip() if (root / f"tune{i}.rc").exists() else "none"
        for i, name in enumerate(("shared", "builtin", "hidden"))
    }
    return {
        "root": root,
        "runs": shared / "runs",
        "logs": logs,
        "codes": codes,
        "worker_log": (root / "worker.log").read_text() if (root / "worker.log").exists() else "",
    }


@pytest.mark.parametrize("name", ["shared", "builtin"])
def test_artifacts_of_worker_trials_reach_storage(cluster_runs, name):
    log = cluster_runs["logs"][name]
    assert cluster_runs["codes"][name] == "0", log[-3000:] + cluster_runs["worker_log"][-2000:]
    assert "connected to Ray cluster at 127.0.0.1" in log and ": 2 CPU" in log  # the worker node's CPUs only
    category = cluster_runs["runs"] / name / "weave"
    trials = trial_dirs(category)
    assert len(trials) == 2
    for trial in trials:
        acc = EventAccumulator(str(trial))
        acc.Reload()
        assert [e.step for e in acc.Scalars("auroc/image")] == [1, 2]
        assert len(acc.Scalars("roc/image")) == 101
        assert "hparams" in acc.Tags()["tensors"] or acc.PluginTagToContent("hparams")
        metrics = json.loads((trial / "run" / "metrics.json").read_text())
        assert len(metrics["history"]) == 2 and set(metrics["test"]) >= {"image_auroc", "pixel_auroc"}
        last = json.loads((trial / "result.json").read_text().strip().splitlines()[-1])
        assert last["test_image_auroc"] == metrics["test"]["image_auroc"]
    best = yaml.safe_load((category / "best_config.yaml").read_text())
    assert set(best["provenance"]["held_out_test"]) >= {"image_auroc", "pixel_auroc"}


def test_builtin_data_is_not_the_drivers_path(cluster_runs):
    params = json.loads(next((cluster_runs["runs"] / "builtin" / "weave").glob("trial_*/params.json")).read_text())
    assert params["data_root"] is None  # resolved on the node where the trial runs


def test_trials_on_the_worker_are_tracked_by_the_driver(cluster_runs, mlflow_url):
    """The worker node reaches no tracker: the driver logs every trial that ran there, epoch by epoch."""
    import mlflow

    from tests.helpers.tracked import history, runs_of

    category = cluster_runs["runs"] / "shared" / "weave"
    runs = runs_of(mlflow.MlflowClient(mlflow_url), "shared")
    trials = trial_dirs(category)
    assert sorted(runs) == sorted(["weave", *(t.name for t in trials)]), runs
    assert {r.info.status for r in runs.values()} == {"FINISHED"}
    for trial in trials:
        run = runs[trial.name]
        assert run.data.tags["ray_trial_id"] == trial.name.removeprefix("trial_")
        assert [step for step, _ in history(mlflow.MlflowClient(mlflow_url), run, "best_score")] == [1, 2]


def test_data_missing_on_the_worker_errors_each_trial_in_one_line(cluster_runs):
    log = cluster_runs["logs"]["hidden"]
    assert cluster_runs["codes"]["hidden"] == "1", log[-3000:]  # no trial finished: the search failed
    assert "ERRORED: DataError:" in log and "data root not found" in log, log[-3000:]
    rows = list(csv.DictReader((cluster_runs["runs"] / "hidden" / "summary.csv").open()))
    assert rows[0]["errored"] == "2"
    assert rows[0]["errors"].count("data root not found") == 2 and "\n" not in rows[0]["errors"]
