"""Local Anomaly Synthesis (LAS), official version (docs/algorithm.md §3.1 steps 2–6).

A texture is blended into the image under a Perlin mask; ``mask_s`` (the mask max-pooled onto the
feature grid) is the per-patch label of the focal loss.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from glass_tune.data.perlin import perlin_mask
from glass_tune.data.textures import TextureSource

BETA_MEAN, BETA_STD, BETA_RANGE = 0.5, 0.1, (0.2, 0.8)
FALLBACK_CELLS = 2  # side of the forced rectangle, in feature cells


def pool_to_grid(mask_l: Tensor, feature_grid: tuple[int, int]) -> Tensor:
    """A feature cell is anomalous if any of its pixels is (adaptive, so H need not divide evenly)."""
    return F.adaptive_max_pool2d(mask_l[None, None], feature_grid)[0, 0]


def draw_beta(rng: np.random.Generator) -> float:
    """Image weight inside the mask: N(0.5, 0.1) clipped to [0.2, 0.8]; the texture gets 1 - beta."""
    return float(np.clip(rng.normal(BETA_MEAN, BETA_STD), *BETA_RANGE))


def blend(image01: Tensor, texture01: Tensor, mask_l: Tensor, beta: float) -> Tensor:
    """x(1-m) + (1-beta)·t·m + beta·x·m."""
    m = mask_l[None]
    return image01 * (1.0 - m) + (1.0 - beta) * texture01 * m + beta * image01 * m


class LocalAnomalySynthesizer:
    """Turns a normal image into an LAS image plus its pixel and feature-grid masks."""

    def __init__(
        self,
        *,
        input_shape: tuple[int, int],
        feature_grid: tuple[int, int],
        textures: TextureSource,
        max_tries: int = 50,
    ) -> None:
        self.input_shape = tuple(input_shape)
        self.feature_grid = tuple(feature_grid)
        self.textures = textures
        self.max_tries = max_tries

    def __call__(
        self, image01: Tensor, rng: np.random.Generator, foreground: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``image01``: 3×H×W in [0, 1]; ``foreground``: optional H×W mask the anomaly must stay in.

        Returns ``(aug01, mask_l, mask_s)`` with float32 masks in {0, 1}; ``mask_s`` is never empty.
        """
        if tuple(image01.shape[-2:]) != self.input_shape:
            raise ValueError(f"image of size {tuple(image01.shape[-2:])}, synthesizer built for {self.input_shape}")
        mask_l = self._mask(rng, foreground)
        texture = self.textures.sample(self.input_shape, rng)
        aug = blend(image01, texture, mask_l, draw_beta(rng))
        return aug, mask_l, pool_to_grid(mask_l, self.feature_grid)

    def _mask(self, rng: np.random.Generator, foreground: Tensor | None) -> Tensor:
        """Perlin masks until one hits the feature grid (officially an unbounded loop).

        Two sparse masks intersected, or a tiny foreground, can miss for many draws; after
        ``max_tries`` a rectangle of two feature cells around a random foreground pixel is forced
        so the loop always ends and every LAS sample still carries a positive target.
        """
        fg = None if foreground is None else (foreground > 0).to(torch.float32)
        for _ in range(self.max_tries):
            mask = torch.from_numpy(perlin_mask(self.input_shape, rng))
            if fg is not None:
                mask = mask * fg
            if mask.any():
                return mask
        return self._fallback_rectangle(rng, fg)

    def _fallback_rectangle(self, rng: np.random.Generator, fg: Tensor | None) -> Tensor:
        (h, w), (gh, gw) = self.input_shape, self.feature_grid
        rh, rw = max(1, FALLBACK_CELLS * h // gh), max(1, FALLBACK_CELLS * w // gw)
        candidates = torch.nonzero(fg) if fg is not None and fg.any() else None
        if candidates is None:
            cy, cx = int(rng.integers(h)), int(rng.integers(w))
        else:
            cy, cx = (int(v) for v in candidates[int(rng.integers(len(candidates)))])
        mask = torch.zeros(self.input_shape, dtype=torch.float32)
        mask[max(0, cy - rh // 2) : cy + rh - rh // 2, max(0, cx - rw // 2) : cx + rw - rw // 2] = 1.0
        return mask if candidates is None else mask * fg
