"""Small datasets written to disk in every supported layout, shared by the data tests.

Images are non-square and cycle through the pixel formats users bring (RGB, grayscale, RGBA,
palette, 16-bit PNG, and JPEG with upper-case extensions), so every layout test also covers them.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

SIZE = (80, 60)  # width, height: non-square like VisA
PNG_MODES = ("RGB", "L", "RGBA", "P", "I;16")


def write_image(
    path: Path, *, seed: int, size: tuple[int, int] = SIZE, mode: str = "RGB", box: tuple[int, int, int, int] | None = None
) -> Path:
    """Random pixels in ``mode`` (JPEG when the extension says so); ``box`` (x0, y0, x1, y1) painted white."""
    rgb = np.random.default_rng(seed).integers(0, 200, (size[1], size[0], 3), dtype=np.uint8)
    if box is not None:
        x0, y0, x1, y1 = box
        rgb[y0:y1, x0:x1] = 255
    img = Image.fromarray(rgb)
    if mode == "I;16":
        img = Image.fromarray(rgb[..., 0].astype(np.uint16) * 257)
    elif mode != "RGB":
        img = img.convert(mode)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() in (".jpg", ".jpeg"):
        img.convert("RGB").save(path, format="JPEG")
    else:
        img.save(path, format="PNG")
    return path


def write_mask(path: Path, box: tuple[int, int, int, int], *, size: tuple[int, int] = SIZE, value: int = 255) -> Path:
    arr = np.zeros((size[1], size[0]), dtype=np.uint8)
    x0, y0, x1, y1 = box
    arr[y0:y1, x0:x1] = value
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def _box(seed: int) -> tuple[int, int, int, int]:
    rng = np.random.default_rng(seed + 1000)
    x0, y0 = int(rng.integers(5, SIZE[0] - 25)), int(rng.integers(5, SIZE[1] - 25))
    return x0, y0, x0 + 15, y0 + 12


def _name(i: int, upper: bool = False) -> str:
    """Every third file is a JPEG, some with upper-case extensions; the rest PNGs."""
    if i % 3 == 2:
        return f"{i:03d}.JPG" if upper or i % 2 else f"{i:03d}.jpeg"
    return f"{i:03d}.PNG" if upper else f"{i:03d}.png"


def _mode(i: int) -> str:
    return PNG_MODES[i % len(PNG_MODES)]


def make_mvtec(
    root: Path, category: str = "widget", *, n_train: int = 8, n_good: int = 4, defects: dict[str, int] | None = None
) -> Path:
    """``<root>/<category>/{train/good, test/<type>, ground_truth/<type>/<stem>_mask.png}``."""
    folder = root / category
    for i in range(n_train):
        write_image(folder / "train" / "good" / _name(i), seed=i, mode=_mode(i))
    for i in range(n_good):
        write_image(folder / "test" / "good" / _name(i), seed=100 + i, mode=_mode(i))
    for t, (defect, n) in enumerate((defects or {"crack": 2, "scratch": 2}).items()):
        for i in range(n):
            seed = 200 + 10 * t + i
            write_image(folder / "test" / defect / _name(i), seed=seed, mode=_mode(i), box=_box(seed))
            write_mask(folder / "ground_truth" / defect / f"{i:03d}_mask.png", _box(seed))
    return root


def make_folder(
    root: Path, category: str = "part", *, n_train: int = 8, n_good: int = 4, defects: dict[str, int] | None = None
) -> Path:
    """The generic layout; defect types as sub-folders of test_bad, masks mirrored in masks/."""
    folder = root / category
    for i in range(n_train):
        write_image(folder / "train" / _name(i, upper=True), seed=i, mode=_mode(i))
    for i in range(n_good):
        write_image(folder / "test_good" / _name(i), seed=100 + i, mode=_mode(i))
    for t, (defect, n) in enumerate((defects or {"dent": 2, "scuff": 2}).items()):
        for i in range(n):
            seed = 200 + 10 * t + i
            write_image(folder / "test_bad" / defect / _name(i), seed=seed, mode=_mode(i), box=_box(seed))
            write_mask(folder / "masks" / defect / f"{i:03d}.png", _box(seed))
    return root


def make_visa(root: Path, category: str = "candle", *, n_train: int = 8, n_good: int = 4, n_bad: int = 4) -> Path:
    """VisA's original layout: JPGs under ``<category>/Data``, masks holding a region index (1, 2, ...)."""
    rows = [("object", "split", "label", "image", "mask")]
    images = Path(category) / "Data" / "Images"
    masks = Path(category) / "Data" / "Masks" / "Anomaly"
    for i in range(n_train + n_good):
        rel = images / "Normal" / f"{i:04d}.JPG"
        write_image(root / rel, seed=i)
        rows.append((category, "train" if i < n_train else "test", "normal", str(rel), ""))
    for i in range(n_bad):
        seed = 300 + i
        rel, mask = images / "Anomaly" / f"{i:03d}.JPG", masks / f"{i:03d}.png"
        write_image(root / rel, seed=seed, box=_box(seed))
        write_mask(root / mask, _box(seed), value=1 + i % 2)
        rows.append((category, "test", "anomaly", str(rel), str(mask)))
    (root / "split_csv").mkdir(parents=True, exist_ok=True)
    with (root / "split_csv" / "1cls.csv").open("w", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return root


def tiny_yaml(path: Path, tiny: dict, **extra: object) -> Path:
    """A config file with the tiny CPU profile, for CLI runs."""
    path.write_text(yaml.safe_dump({**tiny, **extra}))
    return path
