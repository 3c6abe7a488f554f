"""Patch aggregation: backbone feature maps -> one vector per patch of the first layer's grid.

This is docs/algorithm.md §1.3-1.6 (shared by PatchCore, SimpleNet and GLASS), kept operation-for-operation so
features match the official code and anomalib: zero-padded unfold, bilinear alignment of every
(channel, kernel-offset) slot to the reference grid, a per-layer adaptive average pool to
``pretrain_embed_dim`` and a second pool over the concatenated layers to ``target_embed_dim``.

A consequence worth knowing (docs/algorithm.md §1.6): with two layers the second pool averages neighbouring
pairs, so output dims ``0 .. D/2-1`` come only from the first layer and the rest only from the
second; it is not a per-dimension average of the layers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

Grid = tuple[int, int]


def patch_grid_size(size: int, patchsize: int, stride: int) -> int:
    """Number of patch positions along one axis (unfold arithmetic, padding ``(patchsize-1)//2``)."""
    padding = (patchsize - 1) // 2
    return (size + 2 * padding - (patchsize - 1) - 1) // stride + 1


def patchify(features: Tensor, patchsize: int, stride: int) -> tuple[Tensor, Grid]:
    """``B x C x H x W`` -> ``B x L x C x k x k`` neighbourhoods (zero padding), ``L`` row-major."""
    batch, channels, height, width = features.shape
    unfolded = F.unfold(features, kernel_size=patchsize, padding=(patchsize - 1) // 2, stride=stride)
    grid = (patch_grid_size(height, patchsize, stride), patch_grid_size(width, patchsize, stride))
    patches = unfolded.reshape(batch, channels, patchsize, patchsize, -1).permute(0, 4, 1, 2, 3)
    return patches, grid


def align_patches(patches: Tensor, grid: Grid, ref_grid: Grid) -> Tensor:
    """Resample ``B x L x C x k x k`` patches from ``grid`` to ``ref_grid``.

    Every (channel, kernel offset) slot is bilinearly interpolated (``align_corners=False``) as an
    independent image, exactly as the official code does; a same-size resize is the identity, so
    that case is skipped.
    """
    if tuple(grid) == tuple(ref_grid):
        return patches
    batch, _, channels, kh, kw = patches.shape
    slots = patches.reshape(batch, *grid, channels, kh, kw).permute(0, 3, 4, 5, 1, 2)
    slots = F.interpolate(slots.reshape(-1, 1, *grid), size=tuple(ref_grid), mode="bilinear", align_corners=False)
    return slots.reshape(batch, channels, kh, kw, -1).permute(0, 4, 1, 2, 3)


def mean_map(rows: Tensor, dim: int) -> Tensor:
    """Flatten each row and adaptive-average-pool it to ``dim`` values (consecutive-window means)."""
    return F.adaptive_avg_pool1d(rows.reshape(len(rows), 1, -1), dim).squeeze(1)


class PatchAggregator(nn.Module):
    """Parameter-free map from per-layer feature maps to ``(B*L) x target_embed_dim`` patch vectors."""

    def __init__(self, *, patchsize: int, patchstride: int, pretrain_embed_dim: int, target_embed_dim: int) -> None:
        super().__init__()
        self.patchsize = patchsize
        self.patchstride = patchstride
        self.pretrain_embed_dim = pretrain_embed_dim
        self.target_embed_dim = target_embed_dim

    def forward(self, feature_maps: Sequence[Tensor]) -> tuple[Tensor, Grid]:
        """Returns the patch vectors (row ``b*L + h*gw + w``) and the reference (first layer) grid."""
        patched = [patchify(f, self.patchsize, self.patchstride) for f in feature_maps]
        ref_grid = patched[0][1]
        per_layer = []
        for patches, grid in patched:
            aligned = align_patches(patches, grid, ref_grid)
            per_layer.append(mean_map(aligned.reshape(-1, *aligned.shape[2:]), self.pretrain_embed_dim))
        return mean_map(torch.stack(per_layer, dim=1), self.target_embed_dim), ref_grid

    def extra_repr(self) -> str:
        return (
            f"patchsize={self.patchsize}, patchstride={self.patchstride}, "
            f"pretrain_embed_dim={self.pretrain_embed_dim}, target_embed_dim={self.target_embed_dim}"
        )
