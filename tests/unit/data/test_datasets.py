"""Train/test datasets: per-sample determinism, shapes, masks and their errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from glass_tune.data import (
    LocalAnomalySynthesizer,
    ProceduralTextures,
    ScoringDataset,
    TrainDataset,
    generate_synthetic,
    scan_category,
)
from glass_tune.data.mvtec import Sample
from glass_tune.util.errors import DataError

SHAPE, GRID = (64, 64), (8, 8)


@pytest.fixture(scope="module")
def washer(tmp_path_factory: pytest.TempPathFactory):
    root = generate_synthetic(tmp_path_factory.mktemp("syn"), categories=["washer"], size=64)
    return scan_category(root, "washer")


def _train(samples, seed: int = 0) -> TrainDataset:
    synth = LocalAnomalySynthesizer(input_shape=SHAPE, feature_grid=GRID, textures=ProceduralTextures())
    return TrainDataset(samples, input_shape=SHAPE, synthesizer=synth, seed=seed)


def _equal(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in ("image", "aug", "mask_s")) and a["index"] == b["index"]


def test_train_item_contents(washer) -> None:
    item = _train(washer.train)[3]
    assert item["image"].shape == item["aug"].shape == (3, *SHAPE)
    assert item["image"].dtype == item["aug"].dtype == item["mask_s"].dtype == torch.float32
    assert item["mask_s"].shape == GRID and item["mask_s"].sum() > 0
    assert set(item["mask_s"].unique().tolist()) <= {0.0, 1.0}
    assert item["index"] == 3
    assert not torch.equal(item["image"], item["aug"])
    assert abs(float(item["image"].mean())) < 3  # normalised, not [0, 255]


def test_same_seed_epoch_index_gives_identical_items(washer) -> None:
    a, b = _train(washer.train), _train(washer.train)
    a.set_epoch(2)
    b.set_epoch(2)
    assert _equal(a[5], b[5])
    assert _equal(a[5], a[5])  # a second access (cached image) is unchanged


def test_items_differ_across_epochs_seeds_and_indices(washer) -> None:
    ds = _train(washer.train)
    first = ds[1]
    ds.set_epoch(1)
    assert not torch.equal(first["aug"], ds[1]["aug"])
    assert torch.equal(first["image"], ds[1]["image"])  # the normal image itself is not augmented
    assert not torch.equal(_train(washer.train, seed=1)[1]["aug"], first["aug"])


def test_items_do_not_depend_on_num_workers(washer) -> None:
    ds = _train(washer.train[:8])
    ds.set_epoch(4)
    serial = list(DataLoader(ds, batch_size=4, num_workers=0))
    parallel = list(DataLoader(ds, batch_size=4, num_workers=2))
    for x, y in zip(serial, parallel, strict=True):
        for key in ("image", "aug", "mask_s", "index"):
            assert torch.equal(x[key], y[key])


def test_test_dataset(washer) -> None:
    ds = ScoringDataset(washer.test, input_shape=SHAPE)
    assert len(ds) == len(washer.test)
    labels = [ds[i]["label"] for i in range(len(ds))]
    assert set(labels) == {0, 1}
    for i in range(len(ds)):
        item = ds[i]
        assert item["image"].shape == (3, *SHAPE) and item["mask"].shape == SHAPE
        assert item["mask"].dtype == torch.float32 and set(item["mask"].unique().tolist()) <= {0.0, 1.0}
        assert (item["mask"].sum() > 0) == (item["label"] == 1)
        assert Path(item["path"]) == washer.test[i].path
    batch = next(iter(DataLoader(ds, batch_size=5)))
    assert batch["image"].shape == (5, 3, *SHAPE) and batch["label"].dtype == torch.int64


def _pair(root: Path, image_size: tuple[int, int], mask_size: tuple[int, int]) -> Sample:
    img, mask = root / "test" / "bad" / "0.png", root / "ground_truth" / "bad" / "0_mask.png"
    for path, (w, h), value in ((img, image_size, 80), (mask, mask_size, 255)):
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((h, w), value, dtype=np.uint8)).save(path)
    return Sample(img, 1, "bad", mask)


def test_mask_of_another_size_names_both_files(tmp_path: Path) -> None:
    sample = _pair(tmp_path, (40, 30), (40, 31))
    with pytest.raises(DataError) as err:
        ScoringDataset([sample], input_shape=SHAPE)[0]
    message = str(err.value)
    assert str(sample.path) in message and str(sample.mask_path) in message and "\n" not in message


def test_non_square_test_image_is_resized_and_cropped(tmp_path: Path) -> None:
    item = ScoringDataset([_pair(tmp_path, (120, 40), (120, 40))], input_shape=(32, 48))[0]
    assert item["image"].shape == (3, 32, 48) and item["mask"].shape == (32, 48) and item["mask"].all()


def test_corrupt_image_in_a_dataset_names_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "x.png"
    bad.write_bytes(b"\x00garbage")
    with pytest.raises(DataError, match=str(bad)):
        ScoringDataset([Sample(bad, 0, "good")], input_shape=SHAPE)[0]
    with pytest.raises(DataError, match=str(bad)):
        _train([Sample(bad, 0, "good")])[0]
