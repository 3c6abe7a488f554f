"""Torch datasets for GLASS training (normal + LAS image) and evaluation (image + mask).

Decoded, resized images are cached in memory as uint8 per dataset instance: anomaly-detection
training sets are small (MVTec's largest is 391 images, ~100 MB at 288²) and every epoch revisits
them. With ``num_workers > 0`` each worker process fills its own copy of the cache.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset

from glass_tune.data.images import (
    load_mask,
    load_rgb,
    normalize,
    preprocess_mask,
    resize_crop,
    to_float01,
    to_uint8_tensor,
)
from glass_tune.data.mvtec import Sample
from glass_tune.data.synthesis import LocalAnomalySynthesizer
from glass_tune.errors import DataError


class _CachedImages:
    """Index → preprocessed uint8 image plus its original (width, height), to check masks against."""

    def __init__(self, samples: Sequence[Sample], input_shape: tuple[int, int]) -> None:
        self.samples = list(samples)
        self.input_shape = (int(input_shape[0]), int(input_shape[1]))
        self._cache: dict[int, tuple[Tensor, tuple[int, int]]] = {}

    def get(self, index: int) -> tuple[Tensor, tuple[int, int]]:
        if index not in self._cache:
            img: Image.Image = load_rgb(self.samples[index].path)
            self._cache[index] = (to_uint8_tensor(resize_crop(img, self.input_shape)), img.size)
        return self._cache[index]


class TrainDataset(Dataset):
    """Normal training images with their LAS counterpart.

    The LAS randomness of item ``i`` comes from ``np.random.default_rng([seed, epoch, i])``, so a
    batch is identical for any ``num_workers`` and any run with the same seed. Call
    :meth:`set_epoch` before creating the epoch's DataLoader iterator (workers copy the dataset at
    that moment; with ``persistent_workers=True`` they would keep a stale epoch).
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        *,
        input_shape: tuple[int, int],
        synthesizer: LocalAnomalySynthesizer,
        seed: int,
    ) -> None:
        self._images = _CachedImages(samples, input_shape)
        self.synthesizer = synthesizer
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._images.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image01 = to_float01(self._images.get(index)[0])
        rng = np.random.default_rng([self.seed, self.epoch, index])
        aug01, _, mask_s = self.synthesizer(image01, rng)
        return {"image": normalize(image01), "aug": normalize(aug01), "mask_s": mask_s, "index": index}


class TestDataset(Dataset):
    """Test images with pixel ground truth (zeros for normal images), label and path."""

    __test__ = False  # not a pytest test class despite the name

    def __init__(self, samples: Sequence[Sample], *, input_shape: tuple[int, int]) -> None:
        self._images = _CachedImages(samples, input_shape)
        self._masks: dict[int, Tensor] = {}

    def __len__(self) -> int:
        return len(self._images.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self._images.samples[index]
        image, size = self._images.get(index)
        return {
            "image": normalize(to_float01(image)),
            "mask": self._mask(index, sample, size),
            "label": int(sample.label),
            "path": str(sample.path),
        }

    def _mask(self, index: int, sample: Sample, image_size: tuple[int, int]) -> Tensor:
        if sample.mask_path is None:
            return torch.zeros(self._images.input_shape, dtype=torch.float32)
        if index not in self._masks:
            mask = load_mask(sample.mask_path)
            if (mask.shape[1], mask.shape[0]) != image_size:
                raise DataError(
                    f"{sample.mask_path}: mask is {mask.shape[1]}x{mask.shape[0]} but its image "
                    f"{sample.path} is {image_size[0]}x{image_size[1]} (expected the same size)"
                )
            self._masks[index] = preprocess_mask(mask, self._images.input_shape).to(torch.bool)
        return self._masks[index].to(torch.float32)
