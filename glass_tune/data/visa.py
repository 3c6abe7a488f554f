"""Scanning of VisA in its original layout, driven by ``split_csv/1cls.csv``.

The CSV has the columns ``object,split,label,image,mask``: ``split`` is ``train`` or ``test``,
``label`` is ``normal`` or ``anomaly``, and ``image``/``mask`` are paths relative to the root
(``candle/Data/Images/Anomaly/000.JPG``, ``candle/Data/Masks/Anomaly/000.png``). The 1-class CSV
names no defect types, so anomalous images get the type ``anomaly``. VisA masks store a region
index per defect (1, 2, ...), not 255; any non-zero value is anomalous.

VisA converted to the MVTec layout (``<category>/train/good`` ...) is read by :mod:`.mvtec`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from glass_tune.data.samples import (
    GOOD,
    CategorySplit,
    Sample,
    missing_mask_warnings,
    require_both_classes,
    require_category,
    require_train_images,
    resolve_root,
)
from glass_tune.util.errors import DataError

NAME = "visa"
SPLIT_CSV = Path("split_csv") / "1cls.csv"
COLUMNS = ("object", "split", "label", "image", "mask")
ANOMALY = "anomaly"
EXPECTED = f"{SPLIT_CSV} with columns {','.join(COLUMNS)}"

Row = dict[str, str]


def detect(root: Path) -> bool:
    return (root / SPLIT_CSV).is_file()


def _read_rows(root: Path) -> list[Row]:
    path = root / SPLIT_CSV
    if not path.is_file():
        raise DataError(f"{path}: VisA split file not found (expected {EXPECTED})")
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            missing = [c for c in COLUMNS if c not in (reader.fieldnames or ())]
            if missing:
                raise DataError(f"{path}: column '{missing[0]}' missing (expected columns {','.join(COLUMNS)})")
            return [{k: (row.get(k) or "").strip() for k in COLUMNS} for row in reader]
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DataError(f"{path}: not a readable CSV file ({type(exc).__name__})") from None


def list_categories(root: str | Path, *, with_train: bool = True) -> list[str]:
    """Objects named in the CSV (with train rows, unless only the test part is wanted)."""
    path = resolve_root(root, EXPECTED)
    return sorted({r["object"] for r in _read_rows(path) if r["object"] and (r["split"] == "train" or not with_train)})


def scan_category(root: str | Path, category: str, *, with_train: bool = True, good_only: bool = False) -> CategorySplit:
    """Samples of ``category`` as the CSV lists them; a listed file that does not exist is an error."""
    path = resolve_root(root, EXPECTED)
    rows = [r for r in _read_rows(path) if r["object"] == category]
    require_category(path / category, list_categories(path, with_train=with_train))
    csv_path = path / SPLIT_CSV
    train = [_sample(path, csv_path, r) for r in rows if r["split"] == "train"] if with_train else []
    for sample in train:
        if sample.label != 0:
            raise DataError(f"{sample.path}: anomalous image in the train split of {csv_path} (expected normal images only)")
    test = [_sample(path, csv_path, r) for r in rows if r["split"] == "test"]
    if with_train:
        require_train_images(train, csv_path)
    if not good_only:
        require_both_classes(test, csv_path)
    missing = [(csv_path, s.path) for s in test if s.label == 1 and s.mask_path is None]
    return CategorySplit(
        category, path / category, sorted(train, key=_key), sorted(test, key=_key), missing_mask_warnings(missing)
    )


def _key(sample: Sample) -> Path:
    return sample.path


def _sample(root: Path, csv_path: Path, row: Row) -> Sample:
    if row["label"] not in ("normal", ANOMALY):
        raise DataError(f"{csv_path}: label '{row['label']}' of {row['image']} is invalid (expected normal or anomaly)")
    image = _listed_file(root, csv_path, row["image"], "image")
    if row["label"] == "normal":
        return Sample(path=image, label=0, defect_type=GOOD)
    mask = _listed_file(root, csv_path, row["mask"], "mask") if row["mask"] else None
    return Sample(path=image, label=1, defect_type=ANOMALY, mask_path=mask)


def _listed_file(root: Path, csv_path: Path, relative: str, what: str) -> Path:
    if not relative:
        raise DataError(f"{csv_path}: a row has an empty {what} path (expected a path relative to {root})")
    path = root / relative
    if not (path.is_file() or path.is_symlink()):
        raise DataError(f"{path}: {what} listed in {csv_path} not found")
    return path
