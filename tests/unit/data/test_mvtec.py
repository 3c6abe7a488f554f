"""MVTec-layout scanning and its one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glass_tune.data.mvtec import Sample, list_categories, scan_category
from glass_tune.util.errors import DataError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Resolved, because errors name resolved paths (``/tmp`` may be a symlink)."""
    return tmp_path.resolve()


def _img(path: Path, value: int = 100) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((16, 16, 3), value, dtype=np.uint8)).save(path)


def make_tree(root: Path) -> Path:
    """bottle: 3 train, 2 good + 2 broken test (with masks); screw: 1 train, 1 good test."""
    for name in ("000.png", "001.PNG", "002.jpg"):
        _img(root / "bottle" / "train" / "good" / name)
    _img(root / "bottle" / "test" / "good" / "000.png")
    _img(root / "bottle" / "test" / "good" / "001.png")
    _img(root / "bottle" / "test" / "broken" / "000.png")
    _img(root / "bottle" / "test" / "broken" / "001.bmp")
    _img(root / "bottle" / "ground_truth" / "broken" / "000_mask.png", 255)
    _img(root / "bottle" / "ground_truth" / "broken" / "001_mask.PNG", 255)
    (root / "bottle" / "train" / "good" / "notes.txt").write_text("ignored")
    (root / "bottle" / "train" / "good" / "._000.png").write_bytes(b"macOS litter")
    _img(root / "screw" / "train" / "good" / "a.png")
    _img(root / "screw" / "test" / "good" / "a.png")
    (root / "license.txt").write_text("not a category")
    (root / "docs").mkdir()
    return root


def test_list_categories(root: Path) -> None:
    assert list_categories(make_tree(root)) == ["bottle", "screw"]


def test_scan_category(root: Path) -> None:
    split = scan_category(make_tree(root), "bottle")
    assert split.name == "bottle" and split.root == root / "bottle"
    assert [s.path.name for s in split.train] == ["000.png", "001.PNG", "002.jpg"]
    assert all(s.label == 0 and s.mask_path is None and s.defect_type == "good" for s in split.train)
    good = [s for s in split.test if s.label == 0]
    broken = [s for s in split.test if s.label == 1]
    assert len(good) == 2 and all(s.mask_path is None for s in good)
    gt = root / "bottle" / "ground_truth" / "broken"
    assert broken == [
        Sample(root / "bottle/test/broken/000.png", 1, "broken", gt / "000_mask.png"),
        Sample(root / "bottle/test/broken/001.bmp", 1, "broken", gt / "001_mask.PNG"),
    ]


def test_scan_is_sorted_and_repeatable(root: Path) -> None:
    make_tree(root)
    assert scan_category(root, "bottle") == scan_category(str(root), "bottle")


def test_mask_named_like_the_image_is_accepted(root: Path) -> None:
    make_tree(root)
    _img(root / "screw" / "test" / "thread" / "007.png")
    _img(root / "screw" / "ground_truth" / "thread" / "007.png", 255)
    (bad,) = [s for s in scan_category(root, "screw").test if s.label == 1]
    assert bad.mask_path == root / "screw" / "ground_truth" / "thread" / "007.png"


def _one_line(err: pytest.ExceptionInfo[DataError], *fragments: str) -> None:
    message = str(err.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_missing_root(root: Path) -> None:
    with pytest.raises(DataError) as err:
        list_categories(root / "absent")
    _one_line(err, str(root / "absent"))
    with pytest.raises(DataError) as err:
        scan_category(root / "absent", "bottle")
    _one_line(err, str(root / "absent"))


def test_unknown_category_lists_the_available_ones(root: Path) -> None:
    make_tree(root)
    with pytest.raises(DataError) as err:
        scan_category(root, "carpet")
    _one_line(err, str(root / "carpet"), "bottle, screw")


def test_empty_train_good(root: Path) -> None:
    make_tree(root)
    (root / "empty" / "train" / "good").mkdir(parents=True)
    (root / "empty" / "train" / "good" / "readme.md").write_text("x")
    with pytest.raises(DataError) as err:
        scan_category(root, "empty")
    _one_line(err, str(root / "empty" / "train" / "good"))


def test_missing_test_folder(root: Path) -> None:
    _img(root / "cable" / "train" / "good" / "0.png")
    with pytest.raises(DataError) as err:
        scan_category(root, "cable")
    _one_line(err, str(root / "cable" / "test"))


def test_test_folder_without_images(root: Path) -> None:
    _img(root / "cable" / "train" / "good" / "0.png")
    (root / "cable" / "test" / "good").mkdir(parents=True)
    with pytest.raises(DataError) as err:
        scan_category(root, "cable")
    _one_line(err, str(root / "cable" / "test"))


def test_missing_ground_truth_mask_is_a_warning_naming_the_expected_file(root: Path) -> None:
    make_tree(root)
    _img(root / "bottle" / "test" / "contamination" / "004.png")
    split = scan_category(root, "bottle")
    (bad,) = [s for s in split.test if s.defect_type == "contamination"]
    assert bad.label == 1 and bad.mask_path is None
    (warning,) = split.warnings
    assert str(root / "bottle" / "ground_truth" / "contamination" / "004_mask.png") in warning
    assert "004.png" in warning and "pixel metrics are skipped" in warning


def test_test_folder_without_anomalous_images(root: Path) -> None:
    make_tree(root)
    with pytest.raises(DataError) as err:
        scan_category(root, "screw")
    _one_line(err, str(root / "screw" / "test"), "no anomalous test images")
