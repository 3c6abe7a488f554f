"""The tracking flags' user mistakes: one line, exit 2, nothing started or written."""

from __future__ import annotations

import pytest

from glass_tune.cli.main import main
from tests.helpers.processes import free_port
from tests.helpers.tracked import write_tracked_experiment

pytest.importorskip("mlflow")


def _one_line(capsys, verb: str, fragment: str) -> None:
    """One error line, no traceback (a search's notices, such as its svd choice, may come before it)."""
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith(f"glass-tune {verb}: error: ")]
    assert len(errors) == 1 and fragment in errors[0] and "Traceback" not in err, err


def test_a_search_with_a_tracker_that_does_not_answer_starts_nothing(tmp_path, synthetic_root, capsys):
    uri = f"http://127.0.0.1:{free_port()}"
    args = ["tune", "--data", str(synthetic_root), "--category", "weave", "--config", "tiny", "--storage", str(tmp_path)]
    assert main([*args, "--name", "x", "--samples", "1", "--epochs", "1", "--mlflow", uri]) == 2
    _one_line(capsys, "tune", f"--mlflow {uri}: no MLflow tracking server answers there (Connection refused)")
    assert not (tmp_path / "x").exists()


def test_register_needs_a_tracking_server(tmp_path, synthetic_root, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    args = ["tune", "--data", str(synthetic_root), "--category", "weave", "--config", "tiny", "--storage", str(tmp_path)]
    assert main([*args, "--name", "x", "--register", "glass"]) == 2
    _one_line(capsys, "tune", "--register needs a tracking server: pass --mlflow URI or set MLFLOW_TRACKING_URI")
    assert not (tmp_path / "x").exists()


def test_train_with_a_tracker_that_does_not_answer_writes_nothing(tmp_path, synthetic_root, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    argv = ["train", "--data", str(synthetic_root), "--category", "weave", "--config", "tiny", "--out", str(tmp_path / "r")]
    assert main(argv) == 2
    _one_line(capsys, "train", "no MLflow tracking server answers there")
    assert not (tmp_path / "r").exists()


def test_submit_checks_the_tracker_of_mlflow_tracking_uri_before_it_connects(tmp_path, capsys, monkeypatch):
    uri = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    assert main(["submit", "--address", "http://127.0.0.1:1", "--storage", str(tmp_path), "--config", "tiny"]) == 2
    _one_line(capsys, "submit", f"--mlflow {uri}: no MLflow tracking server answers there")


def test_track_without_a_tracking_uri_says_how_to_give_one(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["track", str(write_tracked_experiment(tmp_path / "hand"))]) == 2
    _one_line(capsys, "track", "no tracking URI: pass --mlflow URI or set MLFLOW_TRACKING_URI")


def test_predict_model_takes_a_registry_uri(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    assert main(["predict", "--model", "runs/x/model", "a.png", "--out", str(tmp_path)]) == 2
    _one_line(capsys, "predict", "--model runs/x/model: expected models:/NAME@ALIAS or models:/NAME/VERSION")


def test_submit_hands_the_tracking_flags_to_the_jobs_search():
    from glass_tune.cli.jobs import _tune_argv
    from glass_tune.cli.main import build_parser

    args = build_parser().parse_args(
        ["submit", "--address", "http://h:8265", "--storage", "/shared", "--mlflow", "http://mlflow:5000", "--register", "glass"]
    )
    assert _tune_argv(args.tune_parser, args) == ["--mlflow", "http://mlflow:5000", "--register", "glass"]


def test_the_package_runs_without_mlflow_when_nothing_is_tracked(tmp_path, monkeypatch):
    """``mlflow`` is an optional extra: no module imports it when it loads, and an untracked search's
    event stream never touches it."""
    import ast
    import sys
    from pathlib import Path

    from glass_tune.experiment.protocol import Objective
    from glass_tune.experiment.storage import resolve
    from glass_tune.search.options import TuneOptions
    from glass_tune.search.tuner import trial_events

    package = Path(__file__).resolve().parents[3] / "glass_tune"
    at_load = [
        path.name
        for path in package.rglob("*.py")
        for node in ast.parse(path.read_text()).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        and any((getattr(node, "module", None) or alias.name).startswith("mlflow") for alias in node.names)
    ]
    assert not at_load
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    stream = trial_events(resolve(str(tmp_path)), Objective(), TuneOptions(name="n"))
    assert [s.name for s in stream.sinks] == ["trial index"]
