"""Torch datasets for GLASS training (normal + LAS image) and evaluation (image + mask).

Decoded, resized images (and masks) are cached as compact tensors up to a byte budget per dataset
instance; items beyond it are decoded from disk on every access, so a dataset larger than memory
streams instead of crashing. Anomaly-detection sets are usually small (MVTec's largest category
is 391 training images, ~100 MB at 288²), so by default everything fits. With
``num_workers > 0`` each worker process fills its own copy of the cache.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
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
from glass_tune.data.las import LocalAnomalySynthesizer
from glass_tune.data.samples import Sample
from glass_tune.util.errors import DataError

DEFAULT_CACHE_BYTES = 2 << 30


class BoundedCache:
    """Keeps computed tensors until ``budget_bytes`` are used, then recomputes the rest on each access.

    Fill-first without eviction on purpose: an epoch visits every item once, so an LRU smaller
    than the dataset would evict each item just before its next use and never hit, while a fixed
    subset hits ``budget / total`` of all accesses.
    """

    def __init__(self, budget_bytes: int) -> None:
        self.budget_bytes = int(budget_bytes)
        self.used_bytes = 0
        self._items: dict[Hashable, Tensor] = {}

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: Hashable, make: Callable[[], Tensor]) -> Tensor:
        found = self._items.get(key)
        if found is not None:
            return found
        value = make()
        if self.used_bytes + value.nbytes <= self.budget_bytes:
            self._items[key] = value
            self.used_bytes += value.nbytes
        return value


class _SampleStore:
    """Preprocessed image, ground-truth and foreground masks of each sample, keyed by index (never
    by file name, which repeats across defect types)."""

    def __init__(
        self, samples: Sequence[Sample], input_shape: tuple[int, int], cache_bytes: int, mask_protocol: str = "nearest"
    ) -> None:
        self.samples = list(samples)
        self.mask_protocol = mask_protocol  # ground truth only; foreground masks stay nearest
        self.input_shape = (int(input_shape[0]), int(input_shape[1]))
        self.cache = BoundedCache(cache_bytes)
        self._sizes: dict[int, tuple[int, int]] = {}  # original (width, height), to check masks against

    def image(self, index: int) -> Tensor:
        """uint8 3×H×W."""
        return self.cache.get(("image", index), lambda: self._load_image(index))

    def _load_image(self, index: int) -> Tensor:
        img = load_rgb(self.samples[index].path)
        self._sizes[index] = img.size
        return to_uint8_tensor(resize_crop(img, self.input_shape))

    def mask(self, index: int) -> Tensor:
        """The ground truth as bool H×W (all False without a mask file)."""
        path = self.samples[index].mask_path
        if path is None:
            return torch.zeros(self.input_shape, dtype=torch.bool)
        return self.cache.get(("mask", index), lambda: self._load_mask(index, path, "mask", self.mask_protocol))

    def foreground(self, index: int) -> Tensor | None:
        """The foreground mask as bool H×W, or None when the sample has none."""
        path = self.samples[index].fg_path
        if path is None:
            return None
        return self.cache.get(("fg", index), lambda: self._load_mask(index, path, "foreground mask"))

    def _load_mask(self, index: int, path: Path, what: str, protocol: str = "nearest") -> Tensor:
        if index not in self._sizes:
            self.image(index)
        mask, (w, h) = load_mask(path), self._sizes[index]
        if (mask.shape[1], mask.shape[0]) != (w, h):
            raise DataError(
                f"{path}: {what} is {mask.shape[1]}x{mask.shape[0]} but its image "
                f"{self.samples[index].path} is {w}x{h} (expected the same size)"
            )
        return preprocess_mask(mask, self.input_shape, protocol=protocol).to(torch.bool)


class TrainDataset(Dataset):
    """Normal training images with their LAS counterpart (restricted to the foreground when known).

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
        cache_bytes: int = DEFAULT_CACHE_BYTES,
    ) -> None:
        self._store = _SampleStore(samples, input_shape, cache_bytes)
        self.synthesizer = synthesizer
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self._store.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        image01 = to_float01(self._store.image(index))
        rng = np.random.default_rng([self.seed, self.epoch, index])
        aug01, _, mask_s = self.synthesizer(image01, rng, self._store.foreground(index))
        return {"image": normalize(image01), "aug": normalize(aug01), "mask_s": mask_s, "index": index}


class ScoringDataset(Dataset):
    """Images as they are (no synthesis) with label, pixel ground truth and path: what a model scores.

    Validation and held-out test sets, and the training normals the hypersphere center is computed
    from (their label 0, their masks empty); ``TrainDataset`` is the one with synthesis.

    ``pixel_labels`` is False when any anomalous image lacks a mask: every mask is then all
    zeros, so pixel AUROC and AUPRO come out nan (skipped) instead of counting that image's
    defect pixels as normal.
    """

    def __init__(
        self,
        samples: Sequence[Sample],
        *,
        input_shape: tuple[int, int],
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        mask_protocol: str = "nearest",
    ) -> None:
        self._store = _SampleStore(samples, input_shape, cache_bytes, mask_protocol)
        self.pixel_labels = all(s.mask_path is not None for s in self._store.samples if s.label == 1)

    @property
    def samples(self) -> list[Sample]:
        return self._store.samples

    def __len__(self) -> int:
        return len(self._store.samples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self._store.samples[index]
        image = self._store.image(index)
        if self.pixel_labels:
            mask = self._store.mask(index)
        else:
            mask = torch.zeros(self._store.input_shape, dtype=torch.bool)
        return {
            "image": normalize(to_float01(image)),
            "mask": mask.to(torch.float32),
            "label": int(sample.label),
            "path": str(sample.path),
        }
