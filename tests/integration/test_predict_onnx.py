"""`predict` and `export --format onnx` use the selected epoch; the ONNX graph matches the torch model."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from glass_tune.cli.main import main
from glass_tune.config.schema import from_mapping
from glass_tune.export.onnx_model import ExportAggregator, adaptive_pool_matrix
from glass_tune.inference.model_source import load_trained_model
from glass_tune.inference.onnx_scorer import onnx_scorer
from glass_tune.inference.scorer import load_image01, torch_scorer
from glass_tune.model import GlassModel
from glass_tune.model.embedding import PatchAggregator
from glass_tune.training.checkpoint import load_checkpoint
from tests.helpers import TINY, write_tiny_config

pytestmark = pytest.mark.integration  # the module fixture trains through the CLI and exports ONNX

EPOCHS = 3


@pytest.fixture(scope="module")
def run(tmp_path_factory, synthetic_root):
    """A 3-epoch train run whose selection is forced onto epoch 1 (scores 3, 2, 1 by evaluation)."""
    d = tmp_path_factory.mktemp("selected")
    config = d / "tiny.yaml"
    write_tiny_config(config)
    out = d / "run"
    falling = iter([3.0, 2.0, 1.0])
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("glass_tune.training.loop.score_of", lambda metrics: next(falling))
        args = [
            "train",
            "--data",
            str(synthetic_root),
            "--category",
            "washer",
            "--config",
            str(config),
            "--epochs",
            str(EPOCHS),
            "--out",
            str(out),
        ]
        assert main(args) == 0
    assert json.loads((out / "metrics.json").read_text())["best"]["epoch"] == 1
    images = sorted((synthetic_root / "washer" / "test").glob("*/*.png"))
    return {"out": out, "images": images, "dir": d}


def _scores_with(state: dict[str, torch.Tensor], config, images) -> np.ndarray:
    model = GlassModel.from_config(config)
    model.load_state_dict(state, strict=False)
    batch = torch.stack([load_image01(p, input_shape=model.input_shape) for p in images])
    return torch_scorer(model.eval(), torch.device("cpu"))(batch)[0]


def _predict(checkpoint: Path, images: list[Path], out: Path) -> int:
    return main(["predict", "--checkpoint", str(checkpoint), *map(str, images), "--out", str(out), "--device", "cpu"])


def _predicted(out: Path) -> np.ndarray:
    return np.array([float(r["score"]) for r in csv.DictReader((out / "scores.csv").open())])


@pytest.fixture(scope="module")
def epoch_scores(run):
    """Scores of the epoch-1 weights (best.pt was saved then) and of the last epoch's live weights."""
    images = run["images"][:6]
    best = load_checkpoint(run["out"] / "checkpoints" / "best.pt")
    last = load_checkpoint(run["out"] / "checkpoints" / "last.pt")
    assert best.epoch == 1 and last.epoch == EPOCHS
    selected = _scores_with(best.model_state, best.config, images)
    final = _scores_with(last.model_state, last.config, images)
    assert np.abs(selected - final).max() > 1e-4  # the check below can tell the epochs apart
    return {"images": images, "selected": selected, "last_pt": run["out"] / "checkpoints" / "last.pt"}


def test_predict_on_a_train_run_uses_the_selected_epoch(run, epoch_scores, tmp_path):
    # last.pt holds the last epoch's live weights next to the selected ones: the selected ones count.
    for i, source in enumerate((run["out"], epoch_scores["last_pt"])):
        out = tmp_path / f"pred{i}"
        assert _predict(source, epoch_scores["images"], out) == 0
        np.testing.assert_allclose(_predicted(out), epoch_scores["selected"], atol=2e-6)


def test_predict_on_a_trial_and_a_ray_checkpoint_uses_the_selected_epoch(epoch_scores, tmp_path):
    # A Ray trial folder: result.json and checkpoint_*/checkpoint.pt; the newest checkpoint is the
    # last epoch's (live weights = epoch 3, selected weights = epoch 1), as Ray keeps it.
    trial = tmp_path / "trial_0001"
    (trial / "checkpoint_000002").mkdir(parents=True)
    shutil.copy(epoch_scores["last_pt"], trial / "checkpoint_000002" / "checkpoint.pt")
    (trial / "result.json").write_text(json.dumps({"epoch": EPOCHS}) + "\n")
    for source in (trial, trial / "checkpoint_000002"):
        out = tmp_path / f"pred-{source.name}"
        assert _predict(source, epoch_scores["images"], out) == 0
        np.testing.assert_allclose(_predicted(out), epoch_scores["selected"], atol=2e-6)


@pytest.fixture(scope="module")
def onnx_file(run):
    target = run["dir"] / "model.onnx"
    assert main(["export", str(run["out"]), "--format", "onnx", "--out", str(target)]) == 0
    return target


def test_onnxruntime_alone_loads_the_export(onnx_file, run):
    import onnx
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.type == "tensor(float)" and inp.shape[1:] == [3, 64, 64] and isinstance(inp.shape[0], str)
    assert [o.name for o in session.get_outputs()] == ["score", "anomaly_map"]
    for batch in (1, 3):  # dynamic batch size
        score, amap = session.run(None, {inp.name: np.random.default_rng(0).random((batch, 3, 64, 64), dtype=np.float32)})
        assert score.shape == (batch,) and amap.shape == (batch, 64, 64)
    props = {p.key: p.value for p in onnx.load(str(onnx_file)).metadata_props}
    assert json.loads(props["input_size"]) == [64, 64]
    assert props["category"] == "washer" and props["selected_epoch"] == "1"
    assert props["glass_tune_version"] and json.loads(props["config"])["backbone"] == "resnet18"
    stored = load_checkpoint(run["out"] / "checkpoints" / "best.pt").thresholds
    assert stored is not None and json.loads(props["thresholds"]) == stored  # calibrated at the selected epoch


def test_predict_onnx_agrees_with_predict_checkpoint(onnx_file, run, tmp_path):
    images = run["images"]
    out_onnx, out_torch = tmp_path / "onnx", tmp_path / "torch"
    assert main(["predict", "--onnx", str(onnx_file), *map(str, images), "--out", str(out_onnx)]) == 0
    assert main(["predict", "--checkpoint", str(run["out"]), *map(str, images), "--out", str(out_torch), "--device", "cpu"]) == 0
    a, b = _predicted(out_onnx), _predicted(out_torch)
    assert len(a) == len(images) >= 20
    decisions = [[r["is_anomalous"] for r in csv.DictReader((out / "scores.csv").open())] for out in (out_onnx, out_torch)]
    assert decisions[0] == decisions[1] and len(set(decisions[0])) == 2  # same decisions, and not all one way
    assert np.abs(a - b).max() <= 1e-3 * (b.max() - b.min())
    # Maps: the same float maps to 1e-5 absolute (scores are sigmoid outputs in [0, 1]) ...
    batch = torch.stack([load_image01(p, input_shape=(64, 64)) for p in images])
    _, onnx_maps = onnx_scorer(onnx_file)[1](batch)
    _, torch_maps = torch_scorer(load_trained_model(run["out"], device=torch.device("cpu")), torch.device("cpu"))(batch)
    assert np.abs(onnx_maps - torch_maps).max() <= 1e-5
    # ... and heat-map images that differ by at most one grey level.
    names = [r["heatmap"] for r in csv.DictReader((out_onnx / "scores.csv").open())]
    assert len(set(names)) == len(images)  # one output per input, base names repeat across defect folders
    for name in names:
        with Image.open(out_onnx / name) as x, Image.open(out_torch / name) as y:
            assert np.abs(np.asarray(x, dtype=int) - np.asarray(y, dtype=int)).max() <= 1


def test_predict_onnx_bad_file_is_one_line(tmp_path, run, capsys):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    assert main(["predict", "--onnx", str(bad), str(run["images"][0]), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "bad.onnx: not a loadable ONNX model" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(("in_len", "out_len"), [(1152, 64), (2304, 100), (576, 48), (10, 7)])
def test_pool_matrix_equals_adaptive_avg_pool1d(in_len, out_len):
    rows = torch.randn(50, in_len)
    expected = F.adaptive_avg_pool1d(rows.unsqueeze(1), out_len).squeeze(1)
    torch.testing.assert_close(rows @ adaptive_pool_matrix(in_len, out_len), expected, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize(("layers", "dims"), [(["layer2", "layer3"], (64, 64)), (["layer1", "layer2"], (100, 48))])
def test_export_aggregation_equals_the_training_aggregation(layers, dims):
    """Same vectors as PatchAggregator (incl. resampling between grids and uneven pooling windows)."""
    config = from_mapping({**TINY, "svd": 0, "layers": layers, "pretrain_embed_dim": dims[0], "target_embed_dim": dims[1]})
    model = GlassModel.from_config(config).eval()
    with torch.no_grad():
        maps = model.backbone(torch.randn(3, 3, 64, 64))
        expected, grid = model.aggregator(maps)
        agg = ExportAggregator(model.aggregator, [m.shape[1] for m in maps], [tuple(m.shape[-2:]) for m in maps])
        got = agg(maps)
    assert isinstance(model.aggregator, PatchAggregator) and agg.grids[0] == grid
    torch.testing.assert_close(got.reshape(-1, dims[1]), expected, atol=1e-6, rtol=1e-5)
