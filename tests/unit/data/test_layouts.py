"""Dataset layouts (MVTec, VisA, folder), their detection, foreground masks and training on each."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glass_tune.config.schema import DATA_FORMAT_CHOICES, from_mapping
from glass_tune.data import (
    FORMATS,
    LocalAnomalySynthesizer,
    ProceduralTextures,
    ScoringDataset,
    TrainDataset,
    attach_foreground,
    detect_format,
    list_categories,
    resolve_foreground,
    scan_category,
)
from glass_tune.training.loop import fit
from glass_tune.training.run_inputs import resolve_run_config
from glass_tune.util.errors import DataError
from tests.helpers.data_layouts import make_folder, make_mvtec, make_visa, write_image, write_mask

MAKERS = {"mvtec": (make_mvtec, "widget"), "visa": (make_visa, "candle"), "folder": (make_folder, "part")}


@pytest.fixture(scope="module")
def roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return {name: make(tmp_path_factory.mktemp(name).resolve()) for name, (make, _) in MAKERS.items()}


def test_config_choices_match_the_layouts() -> None:
    assert set(DATA_FORMAT_CHOICES) == {"auto", *FORMATS}


@pytest.mark.parametrize("fmt", list(MAKERS))
def test_each_layout_is_detected_and_scanned(roots: dict[str, Path], fmt: str) -> None:
    root, category = roots[fmt], MAKERS[fmt][1]
    assert detect_format(root) == fmt
    assert list_categories(root) == [category]
    split = scan_category(root, category)
    assert split == scan_category(root, category, fmt)  # explicit format, same result
    assert len(split.train) == 8 and all(s.label == 0 for s in split.train)
    assert sum(s.label == 0 for s in split.test) == 4 and sum(s.label == 1 for s in split.test) == 4
    assert all(s.mask_path is not None and s.mask_path.is_file() for s in split.test if s.label == 1)
    assert split.warnings == ()


@pytest.mark.parametrize("fmt", list(MAKERS))
def test_every_pixel_format_loads_through_the_datasets(roots: dict[str, Path], fmt: str) -> None:
    split = scan_category(roots[fmt], MAKERS[fmt][1])
    ds = ScoringDataset(split.test, input_shape=(64, 64))
    items = [ds[i] for i in range(len(ds))]
    assert all(item["image"].shape == (3, 64, 64) for item in items)
    assert all((item["mask"].sum() > 0) == (item["label"] == 1) for item in items)
    assert ds.pixel_labels


def test_layout_specifics(roots: dict[str, Path]) -> None:
    mvtec = scan_category(roots["mvtec"], "widget")
    assert {s.defect_type for s in mvtec.test} == {"good", "crack", "scratch"}
    assert any(s.path.suffix == ".JPG" for s in mvtec.train) and any(s.path.suffix == ".jpeg" for s in mvtec.train)
    visa = scan_category(roots["visa"], "candle")
    assert {s.defect_type for s in visa.test} == {"good", "anomaly"}
    assert all(s.path.suffix == ".JPG" for s in visa.train)
    folder = scan_category(roots["folder"], "part")
    assert {s.defect_type for s in folder.test} == {"good", "dent", "scuff"}
    assert all(s.path.suffix in (".PNG", ".JPG") for s in folder.train)


def test_folder_layout_flat_test_bad_and_mask_suffix(tmp_path: Path) -> None:
    root = tmp_path.resolve()
    write_image(root / "c" / "train" / "a.png", seed=0)
    write_image(root / "c" / "test_good" / "g.png", seed=1)
    write_image(root / "c" / "test_bad" / "x.jpg", seed=2)
    write_mask(root / "c" / "masks" / "x_mask.png", (1, 1, 9, 9))
    split = scan_category(root, "c", "folder")
    (bad,) = [s for s in split.test if s.label == 1]
    assert bad.defect_type == "bad" and bad.mask_path == root / "c" / "masks" / "x_mask.png"


def test_visa_csv_errors_name_the_file(tmp_path: Path) -> None:
    root = make_visa(tmp_path.resolve())
    csv_path = root / "split_csv" / "1cls.csv"
    (root / "candle" / "Data" / "Images" / "Anomaly" / "001.JPG").unlink()
    with pytest.raises(DataError, match="001.JPG: image listed in .*1cls.csv not found"):
        scan_category(root, "candle")
    csv_path.write_text("object,split,image\ncandle,train,x.JPG\n")
    with pytest.raises(DataError, match=f"{csv_path}: column 'label' missing"):
        scan_category(root, "candle")


def test_ambiguous_or_unknown_layout_is_an_error(tmp_path: Path) -> None:
    root = make_mvtec(tmp_path.resolve())
    (root / "split_csv").mkdir()
    (root / "split_csv" / "1cls.csv").write_text("object,split,label,image,mask\n")
    with pytest.raises(DataError, match="ambiguous dataset layout, looks like mvtec and visa"):
        detect_format(root)
    assert scan_category(root, "widget", "mvtec").name == "widget"  # an explicit format settles it
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=f"{empty.resolve()}: no supported dataset layout"):
        detect_format(empty)


def test_run_config_resolves_format_and_foreground(roots: dict[str, Path]) -> None:
    cfg = resolve_run_config(from_mapping({"data_root": str(roots["visa"])}))
    assert (cfg.data_format, cfg.category, cfg.foreground) == ("visa", "candle", False)


# --- foreground masks ----------------------------------------------------------------------------


def _with_foreground(root: Path) -> Path:
    """fg_mask/widget/<file>: the left half of every training image is foreground."""
    for image in (root / "widget" / "train" / "good").iterdir():
        write_mask(root / "fg_mask" / "widget" / f"{image.stem}.png", (0, 0, 40, 60))
    return root


def test_foreground_auto_follows_the_folder(tmp_path: Path) -> None:
    root = make_mvtec(tmp_path.resolve())
    assert resolve_foreground("auto", root, "widget") is False
    _with_foreground(root)
    assert resolve_foreground("auto", root, "widget") is True
    assert resolve_foreground(False, root, "widget") is False


def test_foreground_restricts_las_to_the_object(tmp_path: Path) -> None:
    root = _with_foreground(make_mvtec(tmp_path.resolve()))
    samples = attach_foreground(scan_category(root, "widget").train, root, "widget")
    assert all(s.fg_path is not None and s.fg_path.parent == root / "fg_mask" / "widget" for s in samples)
    synth = LocalAnomalySynthesizer(input_shape=(60, 80), feature_grid=(8, 10), textures=ProceduralTextures())
    ds = TrainDataset(samples, input_shape=(60, 80), synthesizer=synth, seed=0)
    for i in range(len(ds)):
        item = ds[i]
        changed = (item["aug"] - item["image"]).abs().sum(0) > 1e-6
        assert changed.any() and not changed[:, 40:].any()  # nothing outside the left half


def test_foreground_required_but_missing_names_the_file(tmp_path: Path) -> None:
    root = _with_foreground(make_mvtec(tmp_path.resolve()))
    (root / "fg_mask" / "widget" / "003.png").unlink()
    train = scan_category(root, "widget").train
    with pytest.raises(DataError, match=str(root / "fg_mask" / "widget" / "003.png")):
        attach_foreground(train, root, "widget")
    with pytest.raises(DataError, match="foreground mask folder not found"):
        attach_foreground(train, root, "other")


# --- a short training run on each layout --------------------------------------------------------


@pytest.mark.parametrize("fmt", ["visa", "folder"])  # mvtec: the synthetic set in test_training.py
def test_each_layout_trains(roots: dict[str, Path], fmt: str, tiny_config) -> None:
    result = fit(tiny_config.replace(epochs=1, data_root=str(roots[fmt]), category=None))
    assert result.config.data_format == fmt and result.val_source == "split"
    assert 0.0 <= result.best["image_auroc"] <= 1.0 and result.test is not None
    assert np.isfinite(result.test["image_auroc"]) and np.isfinite(result.best["pixel_auroc"])
