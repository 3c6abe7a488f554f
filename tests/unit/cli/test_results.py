"""``glass-tune export --format onnx`` and ``report`` on an experiment or run holding a hostile checkpoint."""

from __future__ import annotations

import yaml

from glass_tune.cli.main import main
from tests.helpers import TINY
from tests.helpers.checkpoint_files import write_bomb
from tests.helpers.hand_made import HandTrial, write_category


def test_onnx_export_of_a_run_refuses_its_hostile_checkpoint(tmp_path, capsys):
    marker = tmp_path / "marker"
    bomb = write_bomb(tmp_path / "run" / "checkpoints" / "best.pt", marker)
    assert main(["export", str(tmp_path / "run"), "--format", "onnx", "--out", str(tmp_path / "m.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"glass-tune export: error: {bomb}: holds objects that are not plain data")
    assert not marker.exists() and not (tmp_path / "m.onnx").exists()


def test_report_refuses_an_exported_trials_hostile_checkpoint(tmp_path, capsys):
    marker, experiment = tmp_path / "marker", tmp_path / "exp"
    space = {"metric": "best_score", "mode": "max", "params": {"step": {"type": "int", "low": 2, "high": 6}}}
    experiment.mkdir()
    (experiment / "search.yaml").write_text(
        yaml.safe_dump({"options": {"name": "hand"}, "categories": ["weave"], "space": space})
    )
    config = {**TINY, "category": "weave", "seed": 0, "step": 3, "searched": ["step"]}
    trial = HandTrial("best", config, {"best_score": 0.9, "best_epoch": 2, "epoch": 2})
    bomb = write_bomb(write_category(experiment / "weave", [trial])["best"], marker)
    assert main(["report", str(experiment), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"glass-tune report: error: {bomb}: holds objects that are not plain data")
    assert not marker.exists() and not (experiment / "report").exists()
