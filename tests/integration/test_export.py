"""`glass-tune export --format onnx` of a finished search: its best trial's checkpoint."""

from __future__ import annotations

import pytest
import yaml

from glass_tune.cli.main import main

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("shared-search")]  # a finished embedded Ray search


def test_export_onnx_of_an_experiment_is_its_best_trial(experiment, tmp_path, capsys):
    import onnx
    import onnxruntime as ort

    target = tmp_path / "best.onnx"
    assert main(["export", str(experiment), "--format", "onnx", "--out", str(target)]) == 2
    assert "holds several categories" in capsys.readouterr().err
    assert main(["export", str(experiment), "--category", "weave", "--format", "onnx", "--out", str(target)]) == 0
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert [i.shape[1:] for i in session.get_inputs()] == [[3, 64, 64]]
    best = yaml.safe_load((experiment / "weave" / "best_config.yaml").read_text())["provenance"]
    props = {p.key: p.value for p in onnx.load(str(target)).metadata_props}
    assert props["category"] == "weave"
    assert f"trial_{best['trial_id']}" in props["source_checkpoint"]
    assert props["selected_epoch"] == str(best["metrics"]["epoch"])
