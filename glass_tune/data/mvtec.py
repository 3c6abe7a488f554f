"""Scanning of MVTec-AD-layout folders (also MPDD, WFDD, VisA converted, custom data).

Layout: ``<root>/<category>/train/good/*``, ``<root>/<category>/test/<type>/*`` and
``<root>/<category>/ground_truth/<type>/<stem>_mask.png``. Every problem a user can fix is reported
as one :class:`DataError` line naming the path and what was expected.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glass_tune.data.images import IMAGE_EXTENSIONS, is_image_file
from glass_tune.errors import DataError

GOOD = "good"
MASK_SUFFIXES = ("_mask", "")  # MVTec/MPDD name masks <stem>_mask.png; some converted sets use <stem>.png


@dataclass(frozen=True)
class Sample:
    """One image: ``label`` 0 = normal, 1 = anomalous; ``mask_path`` is None for normal images."""

    path: Path
    label: int
    defect_type: str
    mask_path: Path | None = None


@dataclass(frozen=True)
class CategorySplit:
    """The train (normal only) and test samples of one category, in sorted, reproducible order."""

    name: str
    root: Path
    train: list[Sample]
    test: list[Sample]


def _resolve_root(root: str | Path) -> Path:
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise DataError(f"{path}: dataset root not found (expected a folder with <category>/train/good)")
    return path


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def list_categories(root: str | Path) -> list[str]:
    """Sorted names of the sub-folders of ``root`` that contain ``train/good``."""
    path = _resolve_root(root)
    return [d.name for d in _subdirs(path) if (d / "train" / GOOD).is_dir()]


def scan_category(root: str | Path, category: str) -> CategorySplit:
    """List the train and test samples of ``category`` below ``root``, checking the layout."""
    path = _resolve_root(root)
    folder = path / category
    if not (folder / "train" / GOOD).is_dir():
        available = ", ".join(list_categories(path)) or "none"
        raise DataError(f"{folder}: unknown category '{category}' (no train/good folder; available: {available})")
    return CategorySplit(name=category, root=folder, train=_scan_train(folder), test=_scan_test(folder))


def _scan_train(folder: Path) -> list[Sample]:
    good = folder / "train" / GOOD
    files = _images(good)
    if not files:
        raise DataError(f"{good}: no training images (expected normal images: {_ext_list()})")
    return [Sample(path=p, label=0, defect_type=GOOD) for p in files]


def _scan_test(folder: Path) -> list[Sample]:
    test = folder / "test"
    if not test.is_dir():
        raise DataError(f"{test}: test folder missing (expected test/good and test/<defect type> folders)")
    samples = [s for d in _subdirs(test) for s in _scan_test_type(folder, d)]
    if not samples:
        raise DataError(f"{test}: no test images (expected test/<type>/ folders with {_ext_list()} images)")
    return samples


def _scan_test_type(folder: Path, type_dir: Path) -> list[Sample]:
    if type_dir.name == GOOD:
        return [Sample(path=p, label=0, defect_type=GOOD) for p in _images(type_dir)]
    masks = _mask_index(folder / "ground_truth" / type_dir.name)
    return [
        Sample(path=p, label=1, defect_type=type_dir.name, mask_path=_find_mask(p, masks, folder))
        for p in _images(type_dir)
    ]


def _mask_index(gt_dir: Path) -> dict[str, Path]:
    """Mask files by lower-case stem, so ``.PNG`` and ``.png`` both match."""
    if not gt_dir.is_dir():
        return {}
    return {p.stem.lower(): p for p in _images(gt_dir)}


def _find_mask(image: Path, masks: dict[str, Path], folder: Path) -> Path:
    for suffix in MASK_SUFFIXES:
        found = masks.get(image.stem.lower() + suffix)
        if found is not None:
            return found
    expected = folder / "ground_truth" / image.parent.name / f"{image.stem}_mask.png"
    raise DataError(f"{expected}: ground-truth mask missing for anomalous test image {image}")


def _ext_list() -> str:
    return "/".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS))
