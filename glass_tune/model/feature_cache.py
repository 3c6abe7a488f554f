"""Patch embeddings of a frozen backbone, computed once per run and reused by every epoch.

With a frozen backbone ``GlassModel.embed`` is a pure function of the image, so the embeddings of
images that are never augmented (the normal training images, the validation images) are the same
in every epoch: a run computes them once and the epochs only run the adaptor and discriminator on
them.  Only the LAS images, which change every epoch, still need the backbone.

Storage follows a memory budget: float32 on the run's device when it fits; on CUDA float16 on the
device when only that fits (the values are cast back to float32 on use), else float32 in pinned
host memory; no cache at all when even that does not fit (the run then embeds as usual).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from glass_tune.model.glass import GlassModel

CACHE_MEMORY_SHARE = 0.5  # of the memory free when the cache is built


@dataclass
class FeatureCache:
    """``N x P x D`` embeddings of one dataset, row ``i`` for dataset index ``i``."""

    features: Tensor

    def __len__(self) -> int:
        return len(self.features)

    def rows(self, indices: Sequence[int] | Tensor, device: torch.device) -> Tensor:
        """``(len(indices) * P) x D`` float32 embeddings on ``device``, as ``GlassModel.embed`` returns them."""
        index = torch.as_tensor(indices, dtype=torch.long).to(self.features.device)
        picked = self.features.index_select(0, index)
        return picked.to(device=device, dtype=torch.float32, non_blocking=True).reshape(-1, self.features.shape[-1])

    def batches(self, batch_size: int, device: torch.device) -> Iterator[Tensor]:
        """The embeddings in dataset order, ``batch_size`` images at a time."""
        for start in range(0, len(self), batch_size):
            yield self.rows(range(start, min(start + batch_size, len(self))), device)


def free_memory_bytes(device: torch.device) -> int:
    """Memory this process can still use on ``device`` (host: the available physical memory)."""
    if device.type == "cuda":
        index = torch.cuda.current_device() if device.index is None else device.index
        free, total = torch.cuda.mem_get_info(index)
        allowed = int(total * torch.cuda.get_per_process_memory_fraction(index)) - torch.cuda.memory_reserved(index)
        return max(0, min(free, allowed))
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def cache_storage(nbytes_fp32: int, device: torch.device) -> tuple[torch.device, torch.dtype] | None:
    """Where ``nbytes_fp32`` of embeddings go: the first of (device fp32, device fp16 on CUDA, host fp32
    on CUDA) within ``CACHE_MEMORY_SHARE`` of the free memory there; None when nothing fits."""
    host = torch.device("cpu")
    options = [(device, torch.float32)]
    if device.type == "cuda":
        options += [(device, torch.float16), (host, torch.float32)]
    for where, dtype in options:
        nbytes = nbytes_fp32 * torch.finfo(dtype).bits // 32
        if nbytes <= CACHE_MEMORY_SHARE * free_memory_bytes(where):
            return where, dtype
    return None


@torch.no_grad()
def build_feature_cache(model: GlassModel, batches: Iterable[Tensor], *, count: int, device: torch.device) -> FeatureCache | None:
    """Embed ``count`` images given in dataset order as ``batches``; None when the budget says no."""
    if model.backbone_trainable:
        raise ValueError("a feature cache needs a frozen backbone (its embeddings change with training)")
    patches = model.feature_grid[0] * model.feature_grid[1]
    dim = model.aggregator.target_embed_dim
    storage = cache_storage(count * patches * dim * 4, device)
    if storage is None:
        return None
    where, dtype = storage
    pin = where.type == "cpu" and device.type == "cuda"
    features = torch.empty(count, patches, dim, dtype=dtype, device=where, pin_memory=pin)
    filled = 0
    for images in batches:
        embedded = model.embed(images.to(device)).reshape(len(images), patches, dim)
        features[filled : filled + len(images)] = embedded.to(where, dtype)
        filled += len(images)
    if filled != count:
        raise ValueError(f"the batches held {filled} images, expected {count}")
    return FeatureCache(features)
