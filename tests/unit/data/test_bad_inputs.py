"""The bad-input matrix, through the CLI: one line naming the offending path, exit code 2, and the
output folder never created, because the data check runs in the driver before anything is written.

We run as root, where ``chmod 000`` does not stop reads, so unreadable files are exercised with a
dangling symbolic link and a symbolic link that points to itself (both fail to open the same way
an unreadable file does).
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from glass_tune.cli.main import main
from glass_tune.data import LocalAnomalySynthesizer, ProceduralTextures, ScoringDataset, TrainDataset, scan_category
from glass_tune.training import data_check as check_data
from tests.helpers.data_layouts import make_mvtec, write_mask


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return make_mvtec(tmp_path.resolve() / "data")


@pytest.fixture
def config_file(tmp_path: Path, tiny_config) -> Path:
    """The tiny CPU profile without data keys, so a case that wrongly passes trains in seconds."""
    values = {k: v for k, v in tiny_config.to_dict().items() if k not in ("data_root", "category")}
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump({**values, "epochs": 1}))
    return path


def _train(root: Path, config_file: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, Path]:
    out = config_file.parent / "out"
    rc = main(["train", "--data", str(root), "--config", str(config_file), "--out", str(out), *args])
    return rc, capsys.readouterr().err, out


def _fails_naming(result: tuple[int, str, Path], *fragments: str) -> None:
    rc, err, out = result
    error = [line for line in err.splitlines() if ": error: " in line]
    assert rc == 2 and len(error) == 1, err
    for fragment in fragments:
        assert fragment in error[0], (fragment, error[0])
    assert not out.exists()


W = "widget"


def _unlink_all(folder: Path) -> None:
    for p in folder.iterdir():
        p.unlink()


def _symlink_loop(path: Path) -> None:
    path.unlink()
    os.symlink(path.name, path)  # points to itself


def _dangling(path: Path) -> None:
    path.unlink()
    os.symlink(path.parent / "gone.png", path)


def _resize_mask(path: Path) -> None:
    Image.fromarray(np.full((10, 10), 255, np.uint8)).save(path)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:200])


DAMAGES: dict[str, tuple[str, Callable[[Path], None], str]] = {
    # case: (file or folder below the category, damage, words the message must contain)
    "empty train/good": ("train/good", _unlink_all, "no training images"),
    "mask of another size": ("ground_truth/crack/000_mask.png", _resize_mask, "10x10 but its image"),
    "truncated image": ("test/good/001.png", _truncate, "truncated or corrupt"),
    "zero-byte file": ("train/good/000.png", lambda p: p.write_bytes(b""), "empty file"),
    "not an image": ("test/scratch/001.png", lambda p: p.write_text("just text"), "not an image"),
    "corrupt mask": ("ground_truth/scratch/000_mask.png", lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\nxx"), "cannot read image"),
    "symlink loop": ("train/good/003.png", _symlink_loop, "broken symbolic link"),
    "dangling symlink": ("test/crack/001.png", _dangling, "broken symbolic link"),
}


@pytest.mark.parametrize("case", list(DAMAGES))
def test_damaged_dataset_fails_before_any_output(case: str, root: Path, config_file: Path, capsys) -> None:
    relative, damage, words = DAMAGES[case]
    target = root / W / relative
    damage(target)
    _fails_naming(_train(root, config_file, capsys), str(target), words)


def test_missing_root(tmp_path: Path, config_file: Path, capsys) -> None:
    absent = tmp_path.resolve() / "absent"
    _fails_naming(_train(absent, config_file, capsys), str(absent), "not found")


def test_unknown_category_lists_the_available_ones(root: Path, config_file: Path, capsys) -> None:
    make_mvtec(root, "gadget")
    _fails_naming(_train(root, config_file, capsys, "--category", "gizmo"), str(root / "gizmo"), "available: gadget, widget")


def test_test_folder_without_anomalous_images(root: Path, config_file: Path, capsys) -> None:
    """Asked for a split of real defects, there are none (the default, auto, validates on synthetic ones)."""
    for defect in ("crack", "scratch"):
        shutil.rmtree(root / W / "test" / defect)
    result = _train(root, config_file, capsys, "--val-source", "split")
    _fails_naming(result, str(root / W / "test"), "no anomalous test images")


def test_required_foreground_mask_missing(root: Path, config_file: Path, capsys) -> None:
    _fails_naming(_train(root, config_file, capsys, "--set", "foreground=true"), str(root / "fg_mask" / W), "not found")
    for image in (root / W / "train" / "good").iterdir():
        write_mask(root / "fg_mask" / W / f"{image.stem}.png", (0, 0, 40, 60))
    (root / "fg_mask" / W / "005.png").unlink()
    _fails_naming(_train(root, config_file, capsys, "--set", "foreground=true"), str(root / "fg_mask" / W / "005"))


@pytest.mark.parametrize("content", [None, b"not an image"])
def test_texture_folder_without_readable_images(root: Path, config_file: Path, capsys, content) -> None:
    textures = root.parent / "dtd"
    textures.mkdir()
    if content is not None:
        (textures / "a.jpg").write_bytes(content)
    result = _train(root, config_file, capsys, "--set", f"anomaly_source_path={textures}")
    _fails_naming(result, str(textures), "texture folder")


def test_val_dir_required_for_dir_source(root: Path, config_file: Path, capsys) -> None:
    _fails_naming(_train(root, config_file, capsys, "--val-source", "dir"), "val_source=dir needs val_dir")


# --- problems that are warnings: the run goes on -----------------------------------------------


def test_anomalous_image_without_mask_trains_with_image_metrics_only(root: Path, config_file: Path, capsys) -> None:
    missing = root / W / "ground_truth" / "crack" / "001_mask.png"
    missing.unlink()
    rc, err, out = _train(root, config_file, capsys, "--val-source", "test")
    assert rc == 0 and str(missing) in err and "pixel metrics are skipped" in err
    best = json.loads((out / "metrics.json").read_text())["best"]
    assert math.isnan(best["pixel_auroc"]) and math.isnan(best["aupro"]) and 0.0 <= best["image_auroc"] <= 1.0


def test_non_binary_mask_is_binarized_with_a_warning(root: Path, capsys) -> None:
    mask = root / W / "ground_truth" / "crack" / "000_mask.png"
    arr = np.asarray(Image.open(mask)).copy()
    arr[arr > 0] = np.linspace(1, 255, int((arr > 0).sum())).astype(np.uint8)  # anti-aliased grey levels
    Image.fromarray(arr).save(mask)
    assert main(["check-data", "--data", str(root)]) == 0
    assert f"{mask}: mask is not binary" in capsys.readouterr().out
    split = scan_category(root, W)
    ds = ScoringDataset(split.test, input_shape=(64, 64))
    index = [s.mask_path for s in split.test].index(mask)
    assert set(ds[index]["mask"].unique().tolist()) == {0.0, 1.0}


def test_duplicate_file_names_across_defect_types_stay_apart(root: Path, capsys) -> None:
    split = scan_category(root, W)
    same = [i for i, s in enumerate(split.test) if s.path.name == "000.png" and s.label == 1]
    assert len(same) == 2  # test/crack/000.png and test/scratch/000.png
    ds = ScoringDataset(split.test, input_shape=(64, 64))
    a, b = (ds[i] for i in same)
    assert a["path"] != b["path"] and not torch.equal(a["mask"], b["mask"]) and not torch.equal(a["image"], b["image"])
    assert main(["check-data", "--data", str(root), "--val-source", "test"]) == 0
    table = capsys.readouterr().out
    assert "crack" in table and "scratch" in table and "4/4" in table  # every anomaly counted once, with its mask


def test_dataset_larger_than_the_cache_streams(root: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    split = scan_category(root, W)
    one_image = 3 * 64 * 64
    synth = LocalAnomalySynthesizer(input_shape=(64, 64), feature_grid=(8, 8), textures=ProceduralTextures())
    full = TrainDataset(split.train, input_shape=(64, 64), synthesizer=synth, seed=0)
    small = TrainDataset(split.train, input_shape=(64, 64), synthesizer=synth, seed=0, cache_bytes=one_image)
    for _ in range(2):  # a second pass reads beyond the budget from disk again
        for i in range(len(full)):
            assert all(torch.equal(full[i][k], small[i][k]) for k in ("image", "aug", "mask_s"))
    assert len(small._store.cache) == 1 and small._store.cache.used_bytes <= one_image
    test = ScoringDataset(split.test, input_shape=(64, 64), cache_bytes=0)
    assert all(test[i]["image"].shape == (3, 64, 64) for i in range(len(test))) and len(test._store.cache) == 0
    monkeypatch.setattr(check_data, "DEFAULT_CACHE_BYTES", one_image)
    assert main(["check-data", "--data", str(root), "--set", "input_shape=64"]) == 0
    assert "more than the 0 MiB image cache; 7 are read from disk every epoch" in capsys.readouterr().out
