"""Scanning of MVTec-AD-layout folders (also MPDD, WFDD, VisA converted to MVTec layout, custom data).

Layout: ``<root>/<category>/train/good/*``, ``<root>/<category>/test/<type>/*`` and
``<root>/<category>/ground_truth/<type>/<stem>_mask.png`` (``<stem>.png`` is accepted too). Every
problem a user can fix is reported as one :class:`DataError` line naming the path and what was
expected; an anomalous image without a mask is a warning (pixel metrics are then skipped).
"""

from __future__ import annotations

from pathlib import Path

from glass_tune.data.samples import (
    GOOD,
    CategorySplit,
    MaskIndex,
    Sample,
    ext_list,
    images_in,
    missing_mask_warnings,
    require_both_classes,
    require_category,
    require_train_images,
    resolve_root,
    subdirs,
)
from glass_tune.util.errors import DataError

NAME = "mvtec"
EXPECTED = "<category>/train/good, <category>/test/<type> and <category>/ground_truth/<type> folders"

__all__ = ["CategorySplit", "Sample", "detect", "list_categories", "scan_category"]


def detect(root: Path) -> bool:
    """Some sub-folder has ``train/good``."""
    return any((d / "train" / GOOD).is_dir() for d in subdirs(root))


def list_categories(root: str | Path, *, with_train: bool = True) -> list[str]:
    """Sorted names of the sub-folders of ``root`` that contain ``train/good`` (or ``test`` only,
    for a validation root that holds no training images)."""
    path = resolve_root(root, EXPECTED)
    marker = ("train", GOOD) if with_train else ("test",)
    return [d.name for d in subdirs(path) if d.joinpath(*marker).is_dir()]


def scan_category(root: str | Path, category: str, *, with_train: bool = True, good_only: bool = False) -> CategorySplit:
    """List the train and test samples of ``category`` below ``root``, checking the layout.

    ``with_train=False`` scans only the test part (a separate validation folder); ``train`` is empty.
    ``good_only`` accepts a missing or defect-free test folder.
    """
    path = resolve_root(root, EXPECTED)
    folder = path / category
    require_category(folder, list_categories(path, with_train=with_train))
    train = _scan_train(folder) if with_train else []
    if good_only and not (folder / "test").is_dir():
        return CategorySplit(category, folder, train, [])
    test, missing = _scan_test(folder, good_only=good_only)
    if not good_only:
        require_both_classes(test, folder / "test")
    return CategorySplit(category, folder, train, test, missing_mask_warnings(missing))


def _scan_train(folder: Path) -> list[Sample]:
    good = folder / "train" / GOOD
    samples = [Sample(path=p, label=0, defect_type=GOOD) for p in images_in(good)]
    require_train_images(samples, good)
    return samples


def _scan_test(folder: Path, *, good_only: bool = False) -> tuple[list[Sample], list[tuple[Path, Path]]]:
    """Test samples, and (expected mask, image) for anomalous images that have no mask."""
    test = folder / "test"
    if not test.is_dir():
        raise DataError(f"{test}: test folder missing (expected test/good and test/<defect type> folders)")
    samples: list[Sample] = []
    missing: list[tuple[Path, Path]] = []
    for type_dir in subdirs(test):
        masks = MaskIndex(folder / "ground_truth" / type_dir.name)
        for image in images_in(type_dir):
            if type_dir.name == GOOD:
                samples.append(Sample(path=image, label=0, defect_type=GOOD))
                continue
            mask = masks.find(image)
            if mask is None:
                missing.append((masks.expected(image), image))
            samples.append(Sample(path=image, label=1, defect_type=type_dir.name, mask_path=mask))
    if not samples and not good_only:
        raise DataError(f"{test}: no test images (expected test/<type>/ folders with {ext_list()} images)")
    return samples, missing
