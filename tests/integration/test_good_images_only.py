"""A category with good images only (train/good + test/good) trains, tunes, exports and predicts with decisions."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
import yaml
from PIL import Image

from glass_tune.cli.main import main
from tests.helpers import TINY

pytestmark = pytest.mark.integration  # an embedded Ray search, an ONNX export

SPACE = {"metric": "best_score", "mode": "max", "params": {"step": {"type": "int", "low": 2, "high": 6}}}


@pytest.fixture(scope="module")
def good_only(tmp_path_factory, synthetic_root) -> Path:
    root = tmp_path_factory.mktemp("good-only") / "data"
    shutil.copytree(synthetic_root / "marble" / "train", root / "slabs" / "train")
    shutil.copytree(synthetic_root / "marble" / "test" / "good", root / "slabs" / "test" / "good")
    return root


def _rows(out: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((out / "scores.csv").open()))


def test_tune_export_and_predict_with_decisions(good_only: Path, tmp_path: Path) -> None:
    import ray

    config, space = tmp_path / "tiny.yaml", tmp_path / "space.yaml"
    config.write_text(yaml.safe_dump({k: v for k, v in TINY.items() if k != "epochs"}))
    space.write_text(yaml.safe_dump(SPACE))
    storage = tmp_path / "runs"
    args = ["tune", "--data", str(good_only), "--config", str(config), "--space", str(space)]
    args += ["--storage", str(storage), "--name", "g", "--samples", "2", "--epochs", "1", "--scheduler", "fifo"]
    try:
        assert main(args) == 0
    finally:
        ray.shutdown()
    category = storage / "g" / "slabs"
    (metrics,) = [json.loads(p.read_text()) for p in sorted(category.glob("trial_*/run/metrics.json"))[:1]]
    assert metrics["val_source"] == "synthetic" and metrics["config"]["val_source"] == "synthetic"
    assert metrics["thresholds"]["image_rule"].startswith("F1-optimal")
    assert metrics["test"]["false_positive_rate"] >= 0.0  # the held-out good images: false alarms only
    assert any(category.glob("trial_*/run/validation/ground_truth/*/*_mask.png"))

    onnx_file = tmp_path / "model.onnx"
    assert main(["export", str(storage / "g"), "--format", "onnx", "--out", str(onnx_file)]) == 0
    images = sorted((good_only / "slabs" / "test" / "good").glob("*.png"))[:6]
    images += sorted(next(category.glob("trial_*/run/validation")).glob("scratch/*.png"))
    by_torch, by_onnx = tmp_path / "torch", tmp_path / "onnx"
    assert (
        main(["predict", "--checkpoint", str(storage / "g"), *map(str, images), "--out", str(by_torch), "--device", "cpu"]) == 0
    )
    assert main(["predict", "--onnx", str(onnx_file), *map(str, images), "--out", str(by_onnx)]) == 0
    torch_rows, onnx_rows = _rows(by_torch), _rows(by_onnx)
    assert [r["is_anomalous"] for r in torch_rows] == [r["is_anomalous"] for r in onnx_rows]
    assert [r["threshold"] for r in torch_rows] == [r["threshold"] for r in onnx_rows]
    assert {r["threshold_source"] for r in torch_rows} == {"stored"}
    for row in torch_rows:
        with Image.open(by_torch / row["mask"]) as mask:
            assert mask.size == (64, 64) and set(mask.getdata()) <= {0, 255}

    forced = tmp_path / "forced"
    assert main(["predict", "--onnx", str(onnx_file), *map(str, images), "--out", str(forced), "--threshold", "0"]) == 0
    assert {r["is_anomalous"] for r in _rows(forced)} == {"1"} and {r["threshold_source"] for r in _rows(forced)} == {"override"}
