"""Searches, trials and training runs in a real MLflow server (SQLite store, local artifacts), checked
through ``MlflowClient``: nesting, metric histories, statuses, idempotence of resume and ``track``.

The sink and ``track`` tests feed plain records and events (no Ray); one tiny real search whose
server stops mid-search checks the whole path: the search goes on, ``track`` completes it, and the
registered version scores as the export.
"""

from __future__ import annotations

import csv
import json
import shutil
import threading
import time
from pathlib import Path

import pytest

from glass_tune.cli.main import main
from glass_tune.experiment.storage import resolve
from glass_tune.experiment.trial_index import TRIALS_FILE, TrialRecord
from glass_tune.search.tracking_sink import TrackingSink
from glass_tune.search.trial_events import EventKind, TrialEvent
from glass_tune.tracking.experiment import finish_category
from glass_tune.tracking.tracker import TrackerSettings
from tests.helpers.hand_made import write_category
from tests.helpers.processes import free_port, tune_cmd
from tests.helpers.tracked import (
    EPOCHS,
    hand_trials,
    history,
    mlflow_server,
    report,
    runs_of,
    screenshot,
    start_mlflow_server,
    stop_process_group,
    write_search_record,
    write_tracked_experiment,
)

pytestmark = pytest.mark.integration  # a real MLflow server

mlflow = pytest.importorskip("mlflow")

LEGACY = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_experiment"


@pytest.fixture
def client(mlflow_url):
    return mlflow.MlflowClient(mlflow_url)


def _record(trial_id: str, status: str, last: dict, *, error: str | None = None, step: int = 5) -> TrialRecord:
    from tests.helpers.tracked import trial_config

    return TrialRecord(trial_id, status, trial_config(step), last, error=error, folder=f"trial_{trial_id}")


def _flushes() -> list[tuple[list[TrialEvent], list[TrialRecord], bool]]:
    """A search of three trials as the driver's stream delivers it: flushes of events and every trial's record."""
    r = {e: report(e, 0.5 + 0.1 * e) for e in range(1, EPOCHS + 1)}
    stopped = report(1, 0.3)
    started = [TrialEvent(EventKind.STARTED, t) for t in ("done", "stopped")]
    return [
        (
            [*started, TrialEvent(EventKind.RESULT, "done", r[1]), TrialEvent(EventKind.RESULT, "stopped", stopped)],
            [_record("done", "RUNNING", r[1]), _record("stopped", "RUNNING", stopped, step=3)],
            False,
        ),
        (
            [
                TrialEvent(EventKind.RESULT, "done", r[2]),
                TrialEvent(EventKind.COMPLETED, "stopped"),
                TrialEvent(EventKind.STARTED, "broken"),
                TrialEvent(EventKind.ERRORED, "broken"),
            ],
            [
                _record("done", "RUNNING", r[2]),
                _record("stopped", "TERMINATED", stopped, step=3),
                _record("broken", "ERROR", {}, error="DataError: data root not found", step=2),
            ],
            False,
        ),
        (
            [TrialEvent(EventKind.RESULT, "done", r[3]), TrialEvent(EventKind.COMPLETED, "done")],
            [
                _record("done", "TERMINATED", r[3]),
                _record("stopped", "TERMINATED", stopped, step=3),
                _record("broken", "ERROR", {}, error="DataError: data root not found", step=2),
            ],
            True,
        ),
    ]


def test_the_sink_feeds_one_parent_and_a_nested_run_per_trial_and_a_resume_continues_them(tmp_path, mlflow_url, client):
    experiment = tmp_path / "hand"
    write_search_record(experiment)
    category = experiment / "weave"
    category.mkdir()
    settings = TrackerSettings(uri=mlflow_url, experiment="sink")
    sink = TrackingSink(folder_uri=str(category), settings=settings)
    for events, records, final in _flushes():
        sink.flush(events, records, final=final)

    runs = runs_of(client, "sink")
    assert sorted(runs) == ["trial_broken", "trial_done", "trial_stopped", "weave"]
    parent = runs["weave"]
    assert {runs[n].data.tags["mlflow.parentRunId"] for n in runs if n != "weave"} == {parent.info.run_id}
    assert parent.info.status == "RUNNING"  # the search ended; the category ends after its confirmation
    assert parent.data.params["sampler"] == "tpe" and parent.data.params["svd"] == "0"
    assert parent.data.tags["svd_reason"].startswith("distribution judge")  # weave: not in the official table
    done, stopped, broken = runs["trial_done"], runs["trial_stopped"], runs["trial_broken"]
    assert (done.info.status, stopped.info.status, broken.info.status) == ("FINISHED", "KILLED", "FAILED")
    assert history(client, done, "score") == [(1, pytest.approx(0.6)), (2, pytest.approx(0.7)), (3, pytest.approx(0.8))]
    assert "pid" not in done.data.metrics and "timestamp" not in done.data.metrics  # Ray's bookkeeping
    assert stopped.data.tags["end_reason"] == f"stopped early by the scheduler after epoch 1 of {EPOCHS}"
    assert broken.data.tags["end_reason"] == "DataError: data root not found"
    assert done.data.params["step"] == "5" and done.data.tags["ray_trial_id"] == "done"
    ids = json.loads((category / "tracking" / "mlflow.json").read_text())

    # the driver dies, --resume restores "done" from its epoch-1 checkpoint: it reports 2 and 3 again
    write_category(category, [t for t, _ in hand_trials()])
    again = TrackingSink(folder_uri=str(category), settings=settings)
    replay = [TrialEvent(EventKind.RESULT, "done", report(e, 0.5 + 0.1 * e, timestamp=1_800_000_000 + e)) for e in (2, 3)]
    again.flush(replay, _flushes()[-1][1], final=True)
    (category / "best_config.yaml").write_text("step: 5\n")
    finish_category(resolve(str(category)), settings=settings)

    runs = runs_of(client, "sink")
    assert len(runs) == 4 and json.loads((category / "tracking" / "mlflow.json").read_text()) == ids
    assert len(history(client, runs["trial_done"], "score")) == EPOCHS  # no step logged twice
    assert not [n for n, r in runs.items() if r.info.status == "RUNNING"]
    assert runs["weave"].info.status == "FINISHED"
    assert runs["weave"].data.metrics["best_value"] == pytest.approx(0.8)
    assert runs["weave"].data.metrics["trials"] == 3


def test_track_logs_an_experiment_once_however_often_it_runs(tmp_path, mlflow_url, client, capsys):
    experiment = write_tracked_experiment(tmp_path / "hand")
    assert main(["track", str(experiment), "--mlflow", mlflow_url, "--mlflow-experiment", "tracked"]) == 0
    assert "[weave] 4 runs up to date (search run FINISHED)" in capsys.readouterr().out
    first = runs_of(client, "tracked")
    assert main(["track", str(experiment), "--mlflow", mlflow_url, "--mlflow-experiment", "tracked"]) == 0
    runs = runs_of(client, "tracked")
    assert {n: r.info.run_id for n, r in runs.items()} == {n: r.info.run_id for n, r in first.items()}
    assert {n: r.info.status for n, r in runs.items()} == {
        "weave": "FINISHED",
        "trial_done": "FINISHED",
        "trial_stopped": "KILLED",
        "trial_broken": "FAILED",
    }
    assert [s for s, _ in history(client, runs["trial_done"], "score")] == list(range(1, EPOCHS + 1))
    assert history(client, runs["trial_done"], "test_image_auroc") == [(EPOCHS, pytest.approx(0.81))]
    assert runs["trial_done"].data.tags["image_rule"] == "F1-optimal on validation"
    assert len(history(client, runs["weave"], "best_value")) == 1


def test_track_logs_an_interrupted_search_made_before_tracking(tmp_path, mlflow_url, client):
    experiment = tmp_path / "legacy"
    shutil.copytree(LEGACY, experiment)
    assert main(["track", str(experiment), "--mlflow", mlflow_url]) == 0
    runs = runs_of(client, "legacy")
    assert list(runs) == ["weave"]  # its one trial never started: it gets a run when a resume starts it
    assert runs["weave"].info.status == "KILLED"
    assert "--resume" in runs["weave"].data.tags["end_reason"]


def test_train_logs_one_run_like_a_trial(tmp_path, mlflow_url, client, tiny_config, monkeypatch):
    from glass_tune.config.schema import save_config

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_url)
    save_config(tiny_config.replace(epochs=2), tmp_path / "tiny.yaml")
    out = tmp_path / "run"
    assert main(["train", "--config", str(tmp_path / "tiny.yaml"), "--out", str(out)]) == 0
    [run] = runs_of(client, "train-weave").values()
    assert run.info.run_name == "run" and run.info.status == "FINISHED"
    assert [s for s, _ in history(client, run, "loss")] == [1, 2]
    assert "test_image_auroc" in run.data.metrics and "image_threshold" in run.data.metrics
    assert run.data.params["epochs"] == "2" and (out / "tracking" / "mlflow.json").is_file()


def test_a_search_outlives_its_tracker_then_track_completes_it_and_the_registered_model_scores_as_the_export(
    tmp_path, inputs, capsys
):
    """A real search with --mlflow whose server stops as its first trial runs: exit 0 and one warning.
    ``track`` (the URI the search recorded) then completes the runs: every Ray trial one nested run,
    none RUNNING, complete histories; and ``export --register``'s version gives the scores and
    decisions of ``predict --onnx`` on the export."""
    import ray

    folder, port = tmp_path / "mlflow", free_port()
    experiment = tmp_path / "gone"
    server, url = start_mlflow_server(folder, port=port)

    def stop_the_server_once_trials_run() -> None:
        deadline = time.monotonic() + 300
        while not (experiment / "weave" / TRIALS_FILE).is_file() and time.monotonic() < deadline:
            time.sleep(0.2)
        stop_process_group(server)

    stopper = threading.Thread(target=stop_the_server_once_trials_run, daemon=True)
    stopper.start()
    args = tune_cmd(inputs, tmp_path, "--name", "gone", "--samples", "2", "--epochs", "2", "--seed", "0")[3:]
    try:
        assert main([*args, "--mlflow", url]) == 0
    finally:
        stopper.join()
        ray.shutdown()
    err = capsys.readouterr().err
    assert err.count("stopped recording") == 1 and f"glass-tune track {experiment}" in err, err

    with mlflow_server(folder, port=port):
        assert main(["track", str(experiment)]) == 0
        client = mlflow.MlflowClient(url)
        trials = json.loads((experiment / "weave" / TRIALS_FILE).read_text())["trials"]
        runs = runs_of(client, "gone")
        assert sorted(runs) == sorted(["weave", *(f"trial_{t['trial_id']}" for t in trials)])
        assert {r.info.status for r in runs.values()} == {"FINISHED"}
        for t in trials:
            run = runs[f"trial_{t['trial_id']}"]
            assert run.data.tags["ray_trial_id"] == t["trial_id"]
            assert [s for s, _ in history(client, run, "best_score")] == list(range(1, t["last_result"]["epoch"] + 1))

        assert main(["export", str(experiment), "--register", "glass"]) == 0
        version = client.get_model_version_by_alias("glass", "candidate")
        assert version.tags["category"] == "weave" and "verdict" in version.tags
        metadata = mlflow.models.get_model_info("models:/glass@candidate").metadata
        assert metadata["input_size"] == [64, 64] and set(metadata["thresholds"]) >= {"image_threshold", "pixel_threshold"}
        assert metadata["provenance"]["trial"] == version.tags["trial"]

        images = sorted(str(p) for p in (inputs[2] / "weave" / "test").glob("*/*.png"))[:6]
        model = tmp_path / "model.onnx"
        assert main(["export", str(experiment), "--format", "onnx", "--out", str(model)]) == 0
        assert main(["predict", "--onnx", str(model), *images, "--out", str(tmp_path / "by-onnx")]) == 0
        argv = ["predict", "--model", "models:/glass@candidate", "--mlflow", url, *images]
        assert main([*argv, "--out", str(tmp_path / "by-registry")]) == 0

        def scores(folder: Path) -> list[tuple[str, str, str]]:
            with (folder / "scores.csv").open() as fh:
                return [(row["score"], row["is_anomalous"], row["threshold"]) for row in csv.DictReader(fh)]

        assert scores(tmp_path / "by-registry") == scores(tmp_path / "by-onnx")

        experiment_id = client.get_experiment_by_name("gone").experiment_id
        shot = screenshot(f"{url}/#/experiments/{experiment_id}/runs", tmp_path / "mlflow-ui.png")
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        print(f"MLflow UI screenshot: {shot}")
