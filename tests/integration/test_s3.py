"""``--storage s3://bucket/prefix`` against a local S3 server (moto's server mode on 127.0.0.1).

One search is interrupted (its driver's PID namespace killed with SIGKILL once a trial has reported,
``status`` read all the while) and resumed by a driver with an empty cache, as a driver on another
machine would: no trial lost or run twice, every one to its last epoch, no study record left
running; then ``status``, ``export`` and a second ``--resume`` read everything from the bucket.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys

import optuna
import pytest
import yaml
from pyarrow.fs import FileSelector

from glass_tune.cli.main import main
from glass_tune.experiment.results import load_trials
from glass_tune.experiment.storage import resolve
from tests.helpers import STEP_SPACE, wait_until, write_tiny_config
from tests.helpers.processes import NO_CONFIRM, ONE_TRIAL_AT_A_TIME, cli_argv, free_port, kill_session, run_until
from tests.helpers.study import study_storage

pytest.importorskip("moto")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("unshare") is None or os.geteuid() != 0, reason="needs unshare and root for PID namespaces"),
]
URI = "s3://glass/searches"


@pytest.fixture(scope="module")
def s3_env(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("moto") / "moto.log"
    server = subprocess.Popen(
        [str(os.path.join(os.path.dirname(sys.executable), "moto_server")), "-H", "127.0.0.1", "-p", str(port)],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    env = {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        import boto3

        def bucket_created() -> bool:
            try:
                boto3.client("s3").create_bucket(Bucket="glass")
            except Exception:
                assert server.poll() is None, log.read_text()[-2000:]
                return False
            return True

        wait_until(bucket_created, 60, describe=lambda: log.read_text()[-2000:])
        yield env
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        kill_session(server.pid)
        server.wait()


@pytest.fixture(scope="module")
def s3_search(s3_env, tmp_path_factory, synthetic_root):
    d = tmp_path_factory.mktemp("s3")
    config = d / "tiny.yaml"
    write_tiny_config(config)
    space = d / "space.yaml"
    space.write_text(yaml.safe_dump(STEP_SPACE))
    first = cli_argv(
        "tune",
        "--data",
        str(synthetic_root),
        "--category",
        "weave",
        "--config",
        str(config),
        "--space",
        str(space),
        "--storage",
        URI,
        "--name",
        "s3run",
        *NO_CONFIRM,
        "--samples",
        "2",
        "--epochs",
        "2",
        *ONE_TRIAL_AT_A_TIME,
    )
    category = resolve(f"{URI}/s3run/weave")
    statuses: list[tuple[int, str, str]] = []  # `glass-tune status` while the driver writes the bucket

    def reported() -> bool:
        if resolve(f"{URI}/s3run/search.yaml").is_file():
            with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(io.StringIO()) as err:
                code = main(["status", f"{URI}/s3run"])
            statuses.append((code, out.getvalue(), err.getvalue()))
        return any((t / "run" / "metrics.json").is_file() for t in category.subdirs() if t.name.startswith("trial_"))

    killed = run_until(first, d / "first.log", reported)
    resumed = subprocess.run(
        cli_argv("tune", "--resume", "--name", "s3run", "--storage", URI),
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
        env={**os.environ, "GLASS_TUNE_CACHE": str(d / "other-machine-cache")},
    )
    return {"killed": killed, "resumed": resumed, "dir": d, "first_log": (d / "first.log").read_text(), "statuses": statuses}


def test_interrupted_search_resumes_from_the_bucket(s3_search):
    resumed = s3_search["resumed"]
    assert s3_search["killed"], s3_search["first_log"][-3000:]
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "resuming the interrupted search" in resumed.stdout and "Traceback" not in resumed.stderr
    trials = load_trials(category_dir=resolve(f"{URI}/s3run/weave"))
    assert len(trials) == 2 and {t.status for t in trials} == {"TERMINATED"}  # none lost, none duplicated
    for trial in trials:  # every trial ran to its last epoch (FIFO), its reports once each
        history = json.loads(resolve(f"{URI}/s3run/weave/{trial.folder}/run/metrics.json").read_text())["history"]
        assert [row["epoch"] for row in history] == [1, 2], (trial.trial_id, history)
    study = optuna.load_study(study_name="s3run/weave", storage=study_storage(f"{URI}/s3run"))
    owned = {s.system_attrs.get("ray_trial_id"): s.state for s in study.trials}
    assert all(owned.get(t.trial_id) == optuna.trial.TrialState.COMPLETE for t in trials), owned
    assert optuna.trial.TrialState.RUNNING not in owned.values()
    assert resolve(f"{URI}/s3run/optuna.journal").is_file() and resolve(f"{URI}/s3run/summary.md").is_file()


def test_status_during_the_search_reads_the_bucket_and_never_fails(s3_search):
    """Read-only while the driver writes: no error, the search shown running, never finished."""
    statuses = s3_search["statuses"]
    assert statuses and all(code == 0 and not err for code, _, err in statuses), statuses
    assert any("[weave] running:" in out and "of 2" in out for _, out, _ in statuses), statuses
    assert not any("[weave] finished" in out for _, out, _ in statuses)


def test_trial_artifacts_are_in_the_bucket(s3_search):
    category = resolve(f"{URI}/s3run/weave")
    for trial in (t for t in category.subdirs() if t.name.startswith("trial_")):
        names = [i.path for i in trial.fs.get_file_info(FileSelector(trial.path, recursive=True))]
        assert any("events.out.tfevents" in n for n in names), names
        assert (trial / "run" / "metrics.json").is_file()


def test_status_and_export_read_the_uri(s3_search, tmp_path):
    status = subprocess.run(cli_argv("status", f"{URI}/s3run"), capture_output=True, text=True, timeout=120)
    assert status.returncode == 0, status.stderr
    assert "[weave] finished: 0 running, 0 pending, 2 finished, 0 stopped early, 0 errored of 2" in status.stdout
    out = tmp_path / "best.yaml"
    export = subprocess.run(cli_argv("export", f"{URI}/s3run", "--out", str(out)), capture_output=True, text=True, timeout=120)
    assert export.returncode == 0, export.stderr
    provenance = yaml.safe_load(out.read_text())["provenance"]
    assert provenance["checkpoint"].startswith("s3://glass/searches/s3run/weave/trial_")
    assert set(provenance["held_out_test"]) >= {"image_auroc", "pixel_auroc"}
    again = subprocess.run(
        cli_argv("tune", "--resume", "--name", "s3run", "--storage", URI),
        capture_output=True,
        text=True,
        timeout=300,
        start_new_session=True,
    )
    assert again.returncode == 0 and "already finished" in again.stdout, again.stdout[-2000:] + again.stderr[-2000:]


def test_unwritable_storage_fails_before_ray(s3_env, tmp_path):
    code = subprocess.run(
        cli_argv("tune", "--storage", "s3://no-such-bucket/x", "--name", "n", "--samples", "1"),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert code.returncode == 2
    assert (
        code.stderr.strip().startswith("glass-tune tune: error: --storage s3://no-such-bucket/x")
        and len(code.stderr.strip().splitlines()) == 1
    ), code.stderr


def test_report_predict_onnx_and_dashboard_read_the_uri(s3_search, synthetic_root, tmp_path):
    """The readers of issue 10 on the bucket: the report's numbers are the trials' own, predict and the
    ONNX export take the best trial's checkpoint (downloaded), optuna-dashboard opens the journal's copy."""
    import csv

    import onnx
    from optuna_dashboard._storage_url import get_storage

    from glass_tune.experiment.view import open_experiment
    from glass_tune.report.dashboard import study_arguments
    from tests.helpers.report_page import ReportPage

    experiment = f"{URI}/s3run"
    assert main(["report", experiment]) == 2  # object storage: the report needs a local --out
    assert main(["report", experiment, "--out", str(tmp_path / "report")]) == 0
    page = ReportPage()
    page.feed((tmp_path / "report" / "report.html").read_text())
    trials = load_trials(category_dir=resolve(f"{experiment}/weave"))
    for t in trials:
        assert page.cells[("trials:weave", t.trial_id, "best_score")] == f"{t.last_result['best_score']:.4f}"
        assert page.cells[("trials:weave", t.trial_id, "test_image_auroc")] == f"{t.held_out['image_auroc']:.4f}"
    assert any(img["data-plot"] == "weave-best_trial_overlays" for img in page.images)

    assert main(["export", experiment, "--out", str(tmp_path / "best.yaml")]) == 0
    checkpoint = yaml.safe_load((tmp_path / "best.yaml").read_text())["provenance"]["checkpoint"]
    local = tmp_path / "best" / "checkpoint.pt"
    resolve(checkpoint).download_to(local)
    images = [str(p) for p in sorted((synthetic_root / "weave" / "test").glob("*/*.png"))[:4]]
    for source, out in ((experiment, "from-uri"), (str(local), "from-local")):
        assert main(["predict", "--checkpoint", source, *images, "--out", str(tmp_path / out), "--device", "cpu"]) == 0
    scores = {
        out: [r["score"] for r in csv.DictReader((tmp_path / out / "scores.csv").open())] for out in ("from-uri", "from-local")
    }
    assert scores["from-uri"] == scores["from-local"]

    assert main(["export", experiment, "--format", "onnx", "--out", str(tmp_path / "best.onnx")]) == 0
    props = {p.key: p.value for p in onnx.load(str(tmp_path / "best.onnx")).metadata_props}
    assert props["source_checkpoint"] == checkpoint

    args = study_arguments(open_experiment(experiment), cache=tmp_path / "cache")
    assert args[1:] == ["--storage-class", "JournalFileStorage"] and args[0].startswith(str(tmp_path / "cache"))
    storage = get_storage(args[0], storage_class=args[2])  # optuna-dashboard's own opening of its argument
    study = optuna.load_study(study_name="s3run/weave", storage=storage)
    assert {s.system_attrs.get("ray_trial_id") for s in study.trials} == {t.trial_id for t in trials}
