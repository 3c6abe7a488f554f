"""Inference scoring (docs/algorithm.md §7): image score = max raw patch score, pixel map = upsample + Gaussian blur.

The blur is a separable torch convolution so it runs on the GPU next to the model.  Its border
differs slightly from the official ``scipy.ndimage.gaussian_filter`` (default ``mode='reflect'``,
half-sample symmetric: ``d c b a | a b c d``): torch's ``'reflect'`` padding is whole-sample
symmetric (``d c b | a b c d``), i.e. scipy's ``mode='mirror'``, as in anomalib.  Only pixels
within the kernel radius (16 px) of an edge change, by a tiny amount; the interior is identical.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

BLUR_SIGMA = 4.0
BLUR_TRUNCATE = 4.0  # scipy's default, giving radius int(4 * 4 + 0.5) = 16 (33 taps)


def gaussian_kernel1d(sigma: float = BLUR_SIGMA, truncate: float = BLUR_TRUNCATE) -> Tensor:
    """Normalised 1-D Gaussian weights, built in float64 like scipy's."""
    radius = int(truncate * sigma + 0.5)
    x = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-0.5 * (x / sigma) ** 2)
    return weights / weights.sum()


def gaussian_blur(maps: Tensor, sigma: float = BLUR_SIGMA) -> Tensor:
    """Blur ``B x H x W`` maps with a separable Gaussian and whole-sample reflection at the borders."""
    kernel = gaussian_kernel1d(sigma).to(dtype=maps.dtype, device=maps.device)
    radius = len(kernel) // 2
    if min(maps.shape[-2:]) <= radius:
        raise ValueError(f"maps of size {tuple(maps.shape[-2:])} are too small for a radius-{radius} blur")
    padded = F.pad(maps.unsqueeze(1), (radius, radius, radius, radius), mode="reflect")
    rows = F.conv2d(padded, kernel.view(1, 1, 1, -1))
    return F.conv2d(rows, kernel.view(1, 1, -1, 1)).squeeze(1)


def anomaly_maps(patch_scores: Tensor, size: tuple[int, int], sigma: float = BLUR_SIGMA) -> Tensor:
    """``B x gh x gw`` patch scores -> ``B x H x W`` pixel maps (bilinear, align_corners=False, then blur)."""
    upsampled = F.interpolate(patch_scores.unsqueeze(1), size=tuple(size), mode="bilinear", align_corners=False)
    return gaussian_blur(upsampled.squeeze(1), sigma)


def image_scores(patch_scores: Tensor) -> Tensor:
    """Max over the raw (un-upsampled, un-blurred) patch scores of each image."""
    return patch_scores.flatten(1).amax(dim=1)
