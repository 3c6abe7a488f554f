"""The generic folder layout, for your own data (``data_format: folder`` / ``--format folder``).

One folder per category below the data root, with four fixed sub-folders::

    <root>/<category>/train/       normal training images
    <root>/<category>/test_good/   normal test images
    <root>/<category>/test_bad/    anomalous test images; put them in sub-folders
                                   (test_bad/<defect type>/) to get per-type counts and a split
                                   stratified by type, files directly in test_bad/ get type "bad"
    <root>/<category>/masks/       optional ground truth, mirroring test_bad/: the mask of
                                   test_bad/<type>/x.jpg is masks/<type>/x.png or x_mask.png
                                   (any image extension, any case; non-zero pixels are defects)

Any image format (PNG, JPEG, BMP, TIFF; grayscale, RGBA, palette and 16-bit too) is accepted.
Without a mask an anomalous image still counts for image-level metrics; pixel metrics are then
skipped with a warning. Foreground masks, when used, live beside the categories as for MVTec:
``<root>/fg_mask/<category>/<training file name>``. With ``val_source: dir``, ``val_dir`` is a
second root in this layout whose categories need only ``test_good/``, ``test_bad/`` and ``masks/``.
"""

from __future__ import annotations

from pathlib import Path

from glass_tune.data.samples import (
    GOOD,
    CategorySplit,
    MaskIndex,
    Sample,
    images_in,
    missing_mask_warnings,
    require_both_classes,
    require_category,
    require_train_images,
    resolve_root,
    subdirs,
)

NAME = "folder"
TRAIN, TEST_GOOD, TEST_BAD, MASKS = "train", "test_good", "test_bad", "masks"
BAD = "bad"
EXPECTED = f"<category>/{TRAIN}, <category>/{TEST_GOOD}, <category>/{TEST_BAD} and optional <category>/{MASKS} folders"


def detect(root: Path) -> bool:
    """Some sub-folder has ``test_bad`` or ``test_good``: names no other supported layout uses."""
    return any((d / TEST_BAD).is_dir() or (d / TEST_GOOD).is_dir() for d in subdirs(root))


def list_categories(root: str | Path, *, with_train: bool = True) -> list[str]:
    path = resolve_root(root, EXPECTED)
    marker = TRAIN if with_train else TEST_BAD
    return [d.name for d in subdirs(path) if (d / marker).is_dir()]


def scan_category(root: str | Path, category: str, *, with_train: bool = True, good_only: bool = False) -> CategorySplit:
    path = resolve_root(root, EXPECTED)
    folder = path / category
    require_category(folder, list_categories(path, with_train=with_train))
    train: list[Sample] = []
    if with_train:
        train = [Sample(path=p, label=0, defect_type=GOOD) for p in images_in(folder / TRAIN)]
        require_train_images(train, folder / TRAIN)
    good_dir = folder / TEST_GOOD
    test = [Sample(path=p, label=0, defect_type=GOOD) for p in (images_in(good_dir) if good_dir.is_dir() else [])]
    missing: list[tuple[Path, Path]] = []
    bad_dir = folder / TEST_BAD
    groups = ([(BAD, bad_dir, Path())] + [(d.name, d, Path(d.name)) for d in subdirs(bad_dir)]) if bad_dir.is_dir() else []
    for defect_type, images_dir, relative in groups:
        masks = MaskIndex(folder / MASKS / relative)
        for image in images_in(images_dir):
            mask = masks.find(image)
            if mask is None:
                missing.append((masks.expected(image), image))
            test.append(Sample(path=image, label=1, defect_type=defect_type, mask_path=mask))
    if not good_only:
        require_both_classes(test, folder)
    return CategorySplit(category, folder, train, test, missing_mask_warnings(missing))
