"""Validation without real defects: held-out good training images plus copies with synthetic defects.

A category with only good images (no defective test images with masks) has nothing to select an
epoch or rank a search on. ``val_source: synthetic`` holds out a seeded share of the training
images (never trained on), and pairs each with a copy carrying one defect from
:mod:`glass_tune.data.synthetic_defects` (generators unlike LAS, taken in turn), with its exact
pixel mask. Everything is a function of the seed and the files. When the run has a folder the set
is written to ``<run>/validation/`` in MVTec test layout (``good/``, ``<kind>/``,
``ground_truth/<kind>/``) so a user can look at what the run was selected on.
"""

from __future__ import annotations

import io
import math
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from glass_tune.data.images import load_mask, load_rgb, normalize, preprocess_mask, resize_crop, to_float01
from glass_tune.data.samples import GOOD, Sample
from glass_tune.data.synthetic_defects import GENERATORS, make_defect
from glass_tune.util.atomic_io import atomic_write_bytes, atomic_write_json
from glass_tune.util.errors import DataError

STREAM = zlib.crc32(b"synthetic-validation")  # keeps these draws apart from every other use of the seed
KINDS = tuple(GENERATORS)
GROUND_TRUTH = "ground_truth"
MANIFEST = "validation.json"


def hold_out(train: Sequence[Sample], *, ratio: float, seed: int, where: Path) -> tuple[list[Sample], list[Sample]]:
    """``(held_out, kept)``: about ``ratio`` of the training images, at least one on each side."""
    n = len(train)
    if n < 2:
        raise DataError(f"{where}: {n} training image(s), synthetic validation needs at least 2 (one held out, one trained on)")
    count = min(n - 1, max(1, math.floor(n * ratio + 0.5)))
    chosen = set(np.random.default_rng([seed, STREAM]).permutation(n)[:count].tolist())
    held = [s for i, s in enumerate(train) if i in chosen]
    return held, [s for i, s in enumerate(train) if i not in chosen]


def _uint8(image01: np.ndarray) -> np.ndarray:
    return np.round(np.clip(image01, 0.0, 1.0) * 255.0).astype(np.uint8)


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG")
    return buf.getvalue()


class SyntheticValidation(Dataset):
    """Items as :class:`~glass_tune.data.ScoringDataset` gives them: the held-out normals, then their defect copies."""

    pixel_labels = True

    def __init__(
        self, held_out: Sequence[Sample], *, input_shape: tuple[int, int], seed: int, out_dir: Path | None = None
    ) -> None:
        shape = (int(input_shape[0]), int(input_shape[1]))
        normals = [np.array(resize_crop(load_rgb(s.path), shape), dtype=np.uint8) for s in held_out]
        floats = [n.astype(np.float64) / 255.0 for n in normals]
        self._images: list[np.ndarray] = list(normals)
        self._masks: list[np.ndarray] = [np.zeros(shape, dtype=bool)] * len(normals)
        self._samples: list[Sample] = []
        root = out_dir if out_dir is not None else Path("synthetic-validation")
        for i, sample in enumerate(held_out):
            self._samples.append(Sample(path=root / GOOD / f"{i:03d}_{sample.path.stem}.png", label=0, defect_type=GOOD))
        for i, sample in enumerate(held_out):
            kind = KINDS[i % len(KINDS)]
            rng = np.random.default_rng([seed, STREAM, i])
            pool = floats[:i] + floats[i + 1 :]
            fg = None if sample.fg_path is None else preprocess_mask(load_mask(sample.fg_path), shape).numpy() > 0
            image, mask = make_defect(kind, floats[i], pool, rng, foreground=fg)
            self._images.append(_uint8(image))
            self._masks.append(mask)
            name = f"{i:03d}_{sample.path.stem}"
            self._samples.append(
                Sample(
                    path=root / kind / f"{name}.png",
                    label=1,
                    defect_type=kind,
                    mask_path=root / GROUND_TRUTH / kind / f"{name}_mask.png",
                )
            )
        if out_dir is not None:
            self._write(out_dir, held_out, seed)

    def _write(self, out_dir: Path, held_out: Sequence[Sample], seed: int) -> None:
        for sample, image, mask in zip(self._samples, self._images, self._masks, strict=True):
            atomic_write_bytes(sample.path, _png(image))
            if sample.mask_path is not None:
                atomic_write_bytes(sample.mask_path, _png(mask.astype(np.uint8) * 255))
        atomic_write_json(
            out_dir / MANIFEST,
            {
                "rule": "held-out good training images (never trained on) and one synthetic-defect copy of each",
                "generators": list(KINDS),
                "seed": seed,
                "held_out_training_images": [str(s.path) for s in held_out],
            },
        )

    @property
    def samples(self) -> list[Sample]:
        return list(self._samples)

    def __len__(self) -> int:
        return len(self._samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image: Tensor = torch.from_numpy(self._images[index]).permute(2, 0, 1).contiguous()
        return {
            "image": normalize(to_float01(image)),
            "mask": torch.from_numpy(self._masks[index]).to(torch.float32),
            "label": int(self._samples[index].label),
            "path": str(self._samples[index].path),
        }
