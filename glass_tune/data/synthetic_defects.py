"""Validation defects that GLASS never trained on: four generators that differ from its LAS.

LAS (glass_tune.data.las) blends a procedural or DTD texture under a two-octave Perlin mask. A
validation set built with the same recipe would reward models for recognising LAS itself, so the
defects here come from other sources (after SWSA, arXiv 2310.10461, which validates on synthetic
anomalies of several kinds):

- ``cut_paste``: a colour-jittered rectangle cut from another image of the set, pasted elsewhere;
- ``foreign_blend``: a blob shaped by one smooth noise field, filled with another image of the set
  rotated, hue-shifted and inverted (the texture pool is the dataset's own images, not LAS's);
- ``blob``: a soft ellipse where the image is blurred or its colour shifted;
- ``scratch``: a thin curved line, darker or brighter than the surface.

Every generator works on one H x W x 3 float image in [0, 1] at the model's input size and draws all
randomness from the numpy Generator it is given; it returns the defective image and a bool mask of
exactly the pixels it changed, by at least ``MIN_CHANGE`` (restricted to the foreground when one is given).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage

from glass_tune.data.perlin import perlin_noise

Image01 = np.ndarray  # H x W x 3 float64 in [0, 1]
Generator = Callable[[Image01, Sequence[Image01], np.random.Generator], tuple[Image01, np.ndarray]]
MIN_CHANGE = 2.0 / 255.0  # a pixel changed by less than this is not part of the defect mask
MAX_TRIES = 20


def _changed(before: Image01, after: Image01, region: np.ndarray) -> np.ndarray:
    """The mask is what visibly changed inside the painted region, never a pixel left as it was."""
    return region & (np.abs(after - before).max(axis=-1) >= MIN_CHANGE)


def cut_paste(image: Image01, pool: Sequence[Image01], rng: np.random.Generator) -> tuple[Image01, np.ndarray]:
    """A rectangle of 8-25 % of each side from a pool image, brightness/contrast jittered."""
    h, w = image.shape[:2]
    source = pool[int(rng.integers(len(pool)))] if pool else image
    ph, pw = (max(2, int(rng.uniform(0.08, 0.25) * s)) for s in (h, w))
    sy, sx = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    ty, tx = int(rng.integers(0, h - ph + 1)), int(rng.integers(0, w - pw + 1))
    patch = source[sy : sy + ph, sx : sx + pw]
    patch = np.clip((patch - 0.5) * rng.uniform(0.6, 1.4) + 0.5 + rng.uniform(-0.25, 0.25, 3), 0.0, 1.0)
    out = image.copy()
    out[ty : ty + ph, tx : tx + pw] = patch
    region = np.zeros((h, w), dtype=bool)
    region[ty : ty + ph, tx : tx + pw] = True
    return out, _changed(image, out, region)


def foreign_blend(image: Image01, pool: Sequence[Image01], rng: np.random.Generator) -> tuple[Image01, np.ndarray]:
    """One smooth noise field thresholded high (a single blob family, unlike LAS's two combined masks)."""
    h, w = image.shape[:2]
    periods = int(rng.integers(2, 5))
    noise = perlin_noise((h, w), (periods, periods), rng)
    region = noise > np.quantile(noise, 1.0 - rng.uniform(0.03, 0.12))
    source = pool[int(rng.integers(len(pool)))] if pool else image
    texture = np.rot90(source, k=int(rng.integers(1, 4)))
    if texture.shape[:2] != (h, w):
        texture = np.rot90(texture)
    texture = 1.0 - texture[..., np.roll(np.arange(3), int(rng.integers(1, 3)))]
    alpha = rng.uniform(0.6, 0.9)
    out = image.copy()
    out[region] = (1 - alpha) * image[region] + alpha * texture[region]
    return out, _changed(image, out, region)


def blob(image: Image01, pool: Sequence[Image01], rng: np.random.Generator) -> tuple[Image01, np.ndarray]:
    """A soft-edged ellipse (4-15 % of the side per radius), blurred inside or colour-shifted."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    cy, cx = rng.uniform(0.15, 0.85) * h, rng.uniform(0.15, 0.85) * w
    ry, rx = rng.uniform(0.04, 0.15) * h, rng.uniform(0.04, 0.15) * w
    dist = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2
    weight = np.clip(1.5 - dist, 0.0, 1.0)[..., None]  # 1 inside, fading out to 1.5 radii
    if rng.random() < 0.5:
        sigma = rng.uniform(0.02, 0.05) * max(h, w)
        target = ndimage.gaussian_filter(image, sigma=(sigma, sigma, 0)) * rng.uniform(0.6, 0.85)
    else:
        target = np.clip(image + rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 0.45, 3), 0.0, 1.0)
    out = image * (1 - weight) + target * weight
    return out, _changed(image, out, weight[..., 0] > 0)


def scratch(image: Image01, pool: Sequence[Image01], rng: np.random.Generator) -> tuple[Image01, np.ndarray]:
    """A quadratic Bezier curve 1-3 px wide (at 288 px; scaled with the image), dark or bright."""
    h, w = image.shape[:2]
    points = rng.uniform(0.1, 0.9, size=(3, 2)) * np.array([h, w])
    t = np.linspace(0.0, 1.0, 4 * (h + w))[:, None]
    curve = (1 - t) ** 2 * points[0] + 2 * (1 - t) * t * points[1] + t**2 * points[2]
    region = np.zeros((h, w), dtype=bool)
    rows, cols = np.clip(curve.round().astype(int), 0, [h - 1, w - 1]).T
    region[rows, cols] = True
    width = max(1, round(rng.uniform(1.0, 3.0) * max(h, w) / 288))
    if width > 1:
        region = ndimage.binary_dilation(region, iterations=width - 1)
    level = rng.uniform(0.0, 0.15) if image[region].mean() > 0.5 else rng.uniform(0.85, 1.0)
    out = image.copy()
    out[region] = level * rng.uniform(0.9, 1.0, 3)
    return out, _changed(image, out, region)


GENERATORS: dict[str, Generator] = {
    "cut_paste": cut_paste,
    "foreign_blend": foreign_blend,
    "blob": blob,
    "scratch": scratch,
}


def make_defect(
    kind: str,
    image: Image01,
    pool: Sequence[Image01],
    rng: np.random.Generator,
    foreground: np.ndarray | None = None,
) -> tuple[Image01, np.ndarray]:
    """One defect of ``kind``; redrawn until it changes a pixel (inside ``foreground`` when given).

    After ``MAX_TRIES`` empty draws (a tiny foreground, a flat image that a blur leaves unchanged) a
    scratch anywhere is drawn instead: its level is chosen against the surface, so it always shows.
    """
    generate = GENERATORS[kind]
    for _ in range(MAX_TRIES):
        out, mask = generate(image, pool, rng)
        if foreground is not None:
            out = np.where(foreground[..., None], out, image)
            mask = mask & foreground
        if mask.any():
            return np.where(mask[..., None], out, image), mask  # a soft edge below MIN_CHANGE is undone
    return scratch(image, pool, rng)
