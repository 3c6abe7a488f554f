"""What every dataset layout scanner produces, and the folder/mask helpers they share.

A scanner turns one category of a dataset into a :class:`CategorySplit`: sorted samples, so a
scan (and every seeded split built on it) is reproducible across machines. Structural problems
(missing folders, no images) are :class:`DataError` lines naming the path; an anomalous image
without a ground-truth mask is only a warning, because image-level metrics still work.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from glass_tune.data.images import IMAGE_EXTENSIONS, is_image_file
from glass_tune.util.errors import DataError, did_you_mean

GOOD = "good"
MASK_SUFFIXES = ("_mask", "")  # MVTec/MPDD name masks <stem>_mask.png; some converted sets use <stem>.png


@dataclass(frozen=True)
class Sample:
    """One image: ``label`` 0 = normal, 1 = anomalous.

    ``mask_path`` is None for normal images and for anomalous ones without ground truth;
    ``fg_path`` is the foreground mask that restricts synthesis (training images only).
    """

    path: Path
    label: int
    defect_type: str
    mask_path: Path | None = None
    fg_path: Path | None = None


@dataclass(frozen=True)
class CategorySplit:
    """The train (normal only) and test samples of one category, plus warnings found while scanning."""

    name: str
    root: Path
    train: list[Sample]
    test: list[Sample]
    warnings: tuple[str, ...] = ()


def resolve_root(root: str | Path, expected: str) -> Path:
    """The absolute dataset root; a missing one is an error saying which structure was expected."""
    path = Path(root).expanduser().resolve()
    if not path.is_dir():
        raise DataError(f"{path}: dataset root not found (expected {expected})")
    return path


def images_in(folder: Path) -> list[Path]:
    """Image files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if is_image_file(p))


def subdirs(folder: Path) -> list[Path]:
    """Visible sub-folders of ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def ext_list() -> str:
    return "/".join(sorted(e.lstrip(".") for e in IMAGE_EXTENSIONS))


def require_category(folder: Path, available: Sequence[str]) -> None:
    """Unknown categories are reported with the ones that exist, so a typo is obvious."""
    if folder.name not in available:
        listed = ", ".join(available) or "none"
        raise DataError(f"{folder}: unknown category '{folder.name}'{did_you_mean(folder.name, available)} (available: {listed})")


def require_train_images(samples: Sequence[Sample], folder: Path) -> None:
    if not samples:
        raise DataError(f"{folder}: no training images (expected normal images: {ext_list()})")


def require_both_classes(test: Sequence[Sample], where: Path) -> None:
    """AUROC, and the validation split, need normal and anomalous test images."""
    if not any(s.label == 1 for s in test):
        raise DataError(f"{where}: no anomalous test images (expected at least one defect image besides the normal ones)")
    if not any(s.label == 0 for s in test):
        raise DataError(f"{where}: no normal test images (expected defect-free test images besides the anomalous ones)")


class MaskIndex:
    """Mask files of one folder by lower-case stem, so ``X.PNG``, ``x_mask.png`` and ``x.png`` all match."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._by_stem = {p.stem.lower(): p for p in images_in(folder)} if folder.is_dir() else {}

    def find(self, image: Path) -> Path | None:
        for suffix in MASK_SUFFIXES:
            found = self._by_stem.get(image.stem.lower() + suffix)
            if found is not None:
                return found
        return None

    def expected(self, image: Path) -> Path:
        """The canonical name a missing mask should have, for messages."""
        return self.folder / f"{image.stem}_mask.png"


def missing_mask_warnings(missing: Iterable[tuple[Path, Path]]) -> tuple[str, ...]:
    """One warning for all (expected mask, image) pairs without ground truth, naming the first."""
    pairs = list(missing)
    if not pairs:
        return ()
    (expected, image), more = pairs[0], len(pairs) - 1
    extra = f" (and {more} more)" if more else ""
    return (
        f"{expected}: ground-truth mask missing for anomalous image {image}{extra}; "
        "image-level metrics only, pixel metrics are skipped (nan)",
    )
