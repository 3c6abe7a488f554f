"""The official GLASS Perlin masks (docs/algorithm.md §3.1 steps 2–3), driven by an explicit numpy Generator.

Noise is made at the full image size (not at the next power of two as anomalib does, which makes
blobs ~1.8× larger). Sizes that are not a multiple of the period count get a lattice whose cells are
rounded up and the surplus is cropped, so 96, 100 or 288 all work.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

MAX_SCALE_EXPONENT = 5  # periods per axis are 2**k, k in {0, ..., 5}
MAX_ROTATION_DEG = 90.0
THRESHOLD = 0.5
COMBINE_MODES = ("union", "intersection", "first")


def _fade(t: np.ndarray) -> np.ndarray:
    """Quintic fade 6t^5 - 15t^4 + 10t^3: C2-continuous across cell borders."""
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def _axis_coords(size: int, periods: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel lattice cell index and fractional position along one axis (cells rounded up)."""
    cell = -(-size // periods)
    pos = np.arange(size, dtype=np.float64) / cell
    index = pos.astype(np.int64)
    return index, pos - index


def perlin_noise(shape: tuple[int, int], res: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Classic 2-D gradient noise of ``shape`` with ``res`` periods per axis, scaled by sqrt(2)."""
    iy, fy = _axis_coords(shape[0], res[0])
    ix, fx = _axis_coords(shape[1], res[1])
    angles = 2.0 * np.pi * rng.random((res[0] + 1, res[1] + 1))
    gy, gx = np.cos(angles), np.sin(angles)
    fy, fx = fy[:, None], fx[None, :]

    def corner(dy: int, dx: int) -> np.ndarray:
        rows, cols = (iy + dy)[:, None], (ix + dx)[None, :]
        return gy[rows, cols] * (fy - dy) + gx[rows, cols] * (fx - dx)

    ty, tx = _fade(fy), _fade(fx)
    left = corner(0, 0) + ty * (corner(1, 0) - corner(0, 0))
    right = corner(0, 1) + ty * (corner(1, 1) - corner(0, 1))
    return np.sqrt(2.0) * (left + tx * (right - left))


def single_perlin_mask(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """One thresholded, rotated noise mask (float32 in {0, 1}) at random scales per axis."""
    res = tuple(int(2 ** rng.integers(0, MAX_SCALE_EXPONENT + 1)) for _ in range(2))
    noise = perlin_noise(shape, res, rng)  # type: ignore[arg-type]
    angle = rng.uniform(-MAX_ROTATION_DEG, MAX_ROTATION_DEG)
    noise = ndimage.rotate(noise, angle, reshape=False, order=1, mode="constant", cval=0.0)
    return (noise > THRESHOLD).astype(np.float32)


def combine_masks(first: np.ndarray, second: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """Union, intersection or the first mask alone, each with probability 1/3 (official split)."""
    u = rng.random()
    if u > 2.0 / 3.0:
        return np.maximum(first, second), "union"
    if u > 1.0 / 3.0:
        return first * second, "intersection"
    return first, "first"


def perlin_mask(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """The official LAS mask: two independent Perlin masks combined; may be empty (callers retry)."""
    first = single_perlin_mask(shape, rng)
    second = single_perlin_mask(shape, rng)
    return combine_masks(first, second, rng)[0]
