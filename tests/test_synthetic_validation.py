"""Synthetic-defect validation (val_source synthetic/auto) and the calibrated decision thresholds."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glass_tune.config.schema import from_mapping
from glass_tune.data.samples import Sample
from glass_tune.data.synthetic_defects import GENERATORS, make_defect
from glass_tune.data.synthetic_validation import KINDS, MANIFEST, SyntheticValidation, hold_out
from glass_tune.training.metrics import (
    IMAGE_NORMAL_QUANTILE,
    calibrate_thresholds,
    decision_metrics,
    f1_optimal_threshold,
)
from glass_tune.training.run_inputs import choose_val_source, prepare_data, resolve_run_config, run_samples
from glass_tune.util.errors import DataError
from tests.helpers import TINY


def _image(seed: int, size: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 0.8, (size, size, 3))


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_each_generator_changes_exactly_its_mask_and_is_seeded(kind: str) -> None:
    image, pool = _image(0), [_image(1), _image(2)]
    out, mask = make_defect(kind, image, pool, np.random.default_rng(7))
    assert mask.any() and mask.shape == image.shape[:2]
    changed = np.abs(out - image).max(axis=-1) > 0
    assert not changed[~mask].any()  # nothing outside the mask moved
    assert (np.abs(out - image).max(axis=-1)[mask] >= 2 / 255).all()  # every mask pixel visibly changed
    again, mask_again = make_defect(kind, image, pool, np.random.default_rng(7))
    np.testing.assert_array_equal(again, out)
    np.testing.assert_array_equal(mask_again, mask)


def test_defects_stay_inside_the_foreground() -> None:
    foreground = np.zeros((48, 48), dtype=bool)
    foreground[10:30, 10:30] = True
    for kind in GENERATORS:
        out, mask = make_defect(kind, _image(3), [_image(4)], np.random.default_rng(1), foreground=foreground)
        assert mask.any() and not mask[~foreground].any()
        np.testing.assert_array_equal(out[~foreground], _image(3)[~foreground])


def _samples(n: int) -> list[Sample]:
    return [Sample(path=Path(f"/x/{i:03d}.png"), label=0, defect_type="good") for i in range(n)]


def test_hold_out_is_seeded_disjoint_and_keeps_both_sides() -> None:
    held, kept = hold_out(_samples(20), ratio=0.2, seed=3, where=Path("/x"))
    assert len(held) == 4 and len(kept) == 16 and not set(held) & set(kept)
    assert hold_out(_samples(20), ratio=0.2, seed=3, where=Path("/x")) == (held, kept)
    assert hold_out(_samples(20), ratio=0.2, seed=4, where=Path("/x"))[0] != held
    assert [len(p) for p in hold_out(_samples(2), ratio=0.9, seed=0, where=Path("/x"))] == [1, 1]
    with pytest.raises(DataError, match="/x: 1 training image"):
        hold_out(_samples(1), ratio=0.2, seed=0, where=Path("/x"))


def test_choose_val_source() -> None:
    good = _samples(3)
    bad = [Sample(path=Path(f"/x/b{i}.png"), label=1, defect_type="crack", mask_path=Path(f"/m/{i}.png")) for i in range(2)]
    unmasked = [Sample(path=Path(f"/x/u{i}.png"), label=1, defect_type="crack") for i in range(2)]
    assert choose_val_source(good + bad)[0] == "split"
    assert choose_val_source(good + unmasked)[0] == "synthetic"
    assert choose_val_source(good)[0] == "synthetic"
    assert choose_val_source([])[0] == "synthetic"


@pytest.fixture
def good_only(tmp_path: Path, synthetic_root: Path) -> Path:
    """The built-in weave category reduced to train/good: no test folder at all."""
    root = tmp_path / "data"
    shutil.copytree(synthetic_root / "weave" / "train", root / "tiles" / "train")
    return root


def test_good_only_category_resolves_to_synthetic_and_holds_nothing_else_out(good_only: Path, tmp_path: Path) -> None:
    config = resolve_run_config(from_mapping({**TINY, "data_root": str(good_only), "svd": 0}))
    assert config.val_source == "synthetic"
    samples = run_samples(config)
    assert samples.test is None and len(samples.val) == 12 and len(samples.split.train) == 48
    assert not {s.path for s in samples.val} & {s.path for s in samples.split.train}  # never trained on
    data = prepare_data(config, feature_grid=(8, 8), val_dir=tmp_path / "validation")
    assert data.test is None and len(data.val) == 24 and len(data.train) == 48
    labels = [data.val[i]["label"] for i in range(len(data.val))]
    assert labels == [0] * 12 + [1] * 12
    assert all(data.val[i]["mask"].sum() > 0 for i in range(12, 24))
    assert all(data.val[i]["mask"].sum() == 0 for i in range(12))
    # written for the user in MVTec test layout; a written mask is the mask validated on
    assert (tmp_path / "validation" / MANIFEST).is_file()
    assert sorted(p.name for p in (tmp_path / "validation").iterdir()) == sorted([*KINDS, "good", "ground_truth", MANIFEST])
    item = data.val[12]
    written = np.asarray(Image.open(data.val.samples[12].mask_path)) > 0
    np.testing.assert_array_equal(written, item["mask"].numpy() > 0)


def test_synthetic_validation_is_a_function_of_the_seed(good_only: Path) -> None:
    config = resolve_run_config(from_mapping({**TINY, "data_root": str(good_only), "svd": 0}))
    held = run_samples(config).val
    a = SyntheticValidation(held, input_shape=(64, 64), seed=0)
    b = SyntheticValidation(held, input_shape=(64, 64), seed=0)
    c = SyntheticValidation(held, input_shape=(64, 64), seed=1)
    assert all((a[i]["image"] == b[i]["image"]).all() for i in range(len(a)))
    assert any((a[i]["mask"] != c[i]["mask"]).any() for i in range(len(a)))


def test_real_test_split_stays_fully_held_out_under_synthetic(synthetic_root: Path) -> None:
    config = resolve_run_config(from_mapping({**TINY, "data_root": str(synthetic_root), "category": "weave"}))
    assert config.val_source == "split"  # auto with real defects: unchanged behaviour
    synthetic = resolve_run_config(config.replace(val_source="synthetic"))
    samples = run_samples(synthetic)
    assert samples.test is not None and len(samples.test) == len(samples.split.test) == 15 + 3 * 6


def test_f1_threshold_lies_between_scores_and_separates_them() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.8])
    t = f1_optimal_threshold(labels, scores, what="t")
    assert 0.3 < t < 0.6 and t == pytest.approx(0.45)
    assert decision_metrics(labels, scores, threshold=t) == {
        "precision": 1.0,
        "recall": 1.0,
        "f1_at_threshold": 1.0,
        "false_positive_rate": 0.0,
    }
    d = decision_metrics(labels, scores, threshold=0.25)  # one false alarm
    assert d["precision"] == pytest.approx(2 / 3) and d["recall"] == 1.0 and d["false_positive_rate"] == pytest.approx(1 / 3)


def test_calibration_rules() -> None:
    rng = np.random.default_rng(0)
    masks = np.zeros((4, 8, 8), dtype=np.uint8)
    masks[2:, :2, :2] = 1
    maps = rng.random((4, 8, 8)) * 0.5 + masks * 0.5
    with_defects = calibrate_thresholds(
        labels=np.array([0, 0, 1, 1]), scores=np.array([0.1, 0.2, 0.7, 0.9]), masks=masks, maps=maps
    )
    assert with_defects["image_threshold"] == pytest.approx(0.45) and with_defects["image_rule"].startswith("F1-optimal")
    assert with_defects["pixel_rule"].startswith("F1-optimal") and 0.4 < with_defects["pixel_threshold"] < 0.6
    scores = rng.random(50)
    normal = calibrate_thresholds(labels=np.zeros(50), scores=scores, masks=np.zeros((50, 2, 2)), maps=rng.random((50, 2, 2)))
    assert normal["image_threshold"] == pytest.approx(np.quantile(scores, IMAGE_NORMAL_QUANTILE))
    assert "quantile" in normal["image_rule"] and "quantile" in normal["pixel_rule"]


def test_check_data_says_which_validation_and_why(good_only: Path, synthetic_root: Path) -> None:
    from glass_tune.training.data_check import check_category, format_report

    text = format_report(check_category(from_mapping({**TINY, "data_root": str(good_only), "svd": 0})))
    assert "validation: 12 held-out training images" in text and "why: auto: 0 defective test images" in text
    real = format_report(check_category(from_mapping({**TINY, "data_root": str(synthetic_root), "category": "weave"})))
    assert "seeded split of the test set" in real and "a split of the test set" in real


def _benchmark():
    import importlib.util
    import sys

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "synthetic_validation.py"
    spec = importlib.util.spec_from_file_location("synthetic_validation_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_benchmark_ranks_and_selects_by_each_validation() -> None:
    """Three configs whose synthetic objective orders them one way and the real one the other way."""
    bench = _benchmark()

    def metrics(score: float) -> dict[str, float]:
        return {"image_auroc": score, "pixel_auroc": score, "aupro": score, "image_f1": score}

    units = [
        {
            "category": "weave",
            "index": i,
            "svd": 0,
            "params": {},
            "epochs": [
                {"epoch": 1, "synthetic": metrics(0.1 * i), "real": metrics(0.45), "held_out": metrics(0.3 - 0.1 * i)},
                {"epoch": 2, "synthetic": metrics(0.0), "real": metrics(0.6 - 0.1 * i), "held_out": metrics(0.4 - 0.1 * i)},
            ],
        }
        for i in range(3)
    ]
    summary = bench.summarise(units)["weave"]
    assert summary["spearman_synthetic_vs_held_out"] == pytest.approx(-1.0)
    assert summary["spearman_real_vs_held_out"] == pytest.approx(1.0)
    assert summary["selected_by_synthetic"]["config"] == 2 and summary["selected_by_synthetic"]["epoch"] == 1
    assert summary["selected_by_real"]["config"] == 0 and summary["selected_by_real"]["epoch"] == 2
    assert summary["selected_by_real"]["image_auroc"] == pytest.approx(0.4)
