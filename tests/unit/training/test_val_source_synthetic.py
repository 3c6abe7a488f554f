"""val_source synthetic/auto from config to datasets: what is held out, what is written, what check-data says."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glass_tune.config.schema import from_mapping
from glass_tune.data.samples import Sample
from glass_tune.data.synthetic_validation import KINDS, MANIFEST, SyntheticValidation
from glass_tune.training.run_inputs import choose_val_source, prepare_data, resolve_run_config, run_samples
from tests.helpers import TINY


def _samples(n: int) -> list[Sample]:
    return [Sample(path=Path(f"/x/{i:03d}.png"), label=0, defect_type="good") for i in range(n)]


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


def test_check_data_says_which_validation_and_why(good_only: Path, synthetic_root: Path) -> None:
    from glass_tune.training.data_check import check_category, format_report

    text = format_report(check_category(from_mapping({**TINY, "data_root": str(good_only), "svd": 0})))
    assert "validation: 12 held-out training images" in text and "why: auto: 0 defective test images" in text
    real = format_report(check_category(from_mapping({**TINY, "data_root": str(synthetic_root), "category": "weave"})))
    assert "seeded split of the test set" in real and "a split of the test set" in real
