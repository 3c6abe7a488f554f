"""A small deterministic anomaly-detection dataset in MVTec layout, generated on the fly.

It lets demos, smoke runs and CI train and evaluate GLASS without downloading MVTec AD. Three
categories cover the three kinds of MVTec classes: a regular texture (``weave``), an irregular
texture (``marble``) and an object on a plain background (``washer``). Normal images vary in phase,
pose, colour, lighting and sensor noise; each defect changes a region strongly enough to be seen,
and its ground-truth mask is exactly the set of pixels that differ from the defect-free image.

Every image is a pure function of (seed, category, split, kind, index, size), so the same seed gives
byte-identical PNG files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from glass_tune.config.schema import MIN_IMAGE_SIDE
from glass_tune.data.textures import fractal_noise
from glass_tune.util.atomic_io import atomic_write_json
from glass_tune.util.cache import CACHE_ENV, cache_dir
from glass_tune.util.errors import DataError, did_you_mean

GENERATOR_VERSION = 1
N_TRAIN, N_TEST_GOOD, N_TEST_PER_DEFECT = 60, 15, 6
MARKER = "glass_tune_synthetic.json"

RGB = np.ndarray  # H×W×3 float in [0, 1]
Mask = np.ndarray  # H×W bool


@dataclass(frozen=True)
class SyntheticImage:
    """One generated sample: the defect-free ``normal``, the written ``image`` and its ``mask``."""

    normal: np.ndarray  # uint8 H×W×3
    image: np.ndarray  # uint8 H×W×3, equal to normal for "good"
    mask: np.ndarray  # bool H×W, exactly the pixels where image != normal


# --- shared drawing helpers ---------------------------------------------------------------------


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    return yy, xx


def _jitter(color: Sequence[float], rng: np.random.Generator, amount: float = 0.06) -> np.ndarray:
    return np.clip(np.asarray(color) + rng.uniform(-amount, amount, 3), 0.0, 1.0)


def _finish(rgb: RGB, rng: np.random.Generator) -> np.ndarray:
    """Random illumination gradient and sensor noise, then 8-bit quantisation."""
    size = rgb.shape[0]
    yy, xx = _grid(size)
    angle = rng.uniform(0, 2 * np.pi)
    light = 1.0 + rng.uniform(0.0, 0.08) * ((xx * np.cos(angle) + yy * np.sin(angle)) / size - 0.5)
    noisy = rgb * light[..., None] + rng.normal(0.0, 0.015, rgb.shape)
    return np.round(np.clip(noisy, 0.0, 1.0) * 255.0).astype(np.uint8)


def _random_point(region: Mask, rng: np.random.Generator) -> tuple[float, float]:
    ys, xs = np.nonzero(region)
    k = int(rng.integers(len(ys)))
    return float(ys[k]), float(xs[k])


def _inner(size: int, margin: float = 0.15) -> Mask:
    """Pixels away from the border, so a defect is not cut off by the image edge."""
    lo, hi = int(size * margin), int(size * (1 - margin))
    out = np.zeros((size, size), dtype=bool)
    out[lo:hi, lo:hi] = True
    return out


# --- normal images: each returns (rgb, foreground) ------------------------------------------------


def _weave(size: int, rng: np.random.Generator) -> tuple[RGB, Mask]:
    """Plain weave: vertical and horizontal threads alternating over/under, slightly rotated."""
    yy, xx = _grid(size)
    angle = np.deg2rad(rng.uniform(-4.0, 4.0))
    period = rng.uniform(11.0, 14.0) * size / 128.0
    u = (xx * np.cos(angle) + yy * np.sin(angle)) / period + rng.random()
    v = (-xx * np.sin(angle) + yy * np.cos(angle)) / period + rng.random()
    cu, cv = np.floor(u), np.floor(v)
    fu, fv = u - cu, v - cv
    half = 0.4  # thread half-width as a fraction of the period
    across_warp = np.clip(1 - ((fu - 0.5) / half) ** 2, 0, 1)
    across_weft = np.clip(1 - ((fv - 0.5) / half) ** 2, 0, 1)
    warp_on_top = (cu + cv) % 2 == 0
    # the thread on top bulges: brighter in the middle of its crossing
    warp = np.sqrt(across_warp) * np.where(warp_on_top, 0.75 + 0.25 * np.sin(np.pi * fv), 0.55)
    weft = np.sqrt(across_weft) * np.where(~warp_on_top, 0.75 + 0.25 * np.sin(np.pi * fu), 0.55)
    warp_color, weft_color = _jitter((0.78, 0.70, 0.52), rng), _jitter((0.66, 0.58, 0.42), rng)
    backing = _jitter((0.18, 0.15, 0.12), rng, 0.03)
    show_warp = (across_warp > 0) & (warp_on_top | (across_weft == 0))
    top = np.where(show_warp[..., None], warp[..., None] * warp_color, weft[..., None] * weft_color)
    visible = (across_warp > 0) | (across_weft > 0)
    rgb = np.where(visible[..., None], np.maximum(top, backing), backing)
    return rgb, np.ones((size, size), dtype=bool)


def _marble(size: int, rng: np.random.Generator) -> tuple[RGB, Mask]:
    """Marble: sine veins displaced by fractal noise, plus fine speckle."""
    yy, xx = _grid(size)
    turbulence = fractal_noise((size, size), rng, octaves=5, base=2)
    angle = rng.uniform(0, np.pi)
    freq = rng.uniform(2.0, 4.0)
    phase = (xx * np.cos(angle) + yy * np.sin(angle)) / size * freq * 2 * np.pi
    veins = np.abs(np.sin(phase + rng.uniform(4.0, 7.0) * turbulence + rng.uniform(0, 2 * np.pi))) ** 0.4
    speckle = fractal_noise((size, size), rng, octaves=2, base=16) - 0.5
    base, vein = _jitter((0.86, 0.84, 0.80), rng), _jitter((0.38, 0.42, 0.40), rng)
    shade = np.clip(veins + 0.12 * speckle, 0, 1)[..., None]
    return vein + shade * (base - vein), np.ones((size, size), dtype=bool)


def _washer(size: int, rng: np.random.Generator) -> tuple[RGB, Mask]:
    """A metal washer (ring) on a plain background, with small pose and lighting jitter."""
    yy, xx = _grid(size)
    cy, cx = size / 2 + np.clip(rng.normal(0.0, 0.015 * size, 2), -0.03 * size, 0.03 * size)
    r_out = 0.34 * size * rng.uniform(0.97, 1.03)
    r_in = 0.15 * size * rng.uniform(0.95, 1.05)
    r = np.hypot(yy - cy, xx - cx)
    theta = np.arctan2(yy - cy, xx - cx)
    coverage = np.clip(r_out - r + 0.5, 0, 1) * np.clip(r - r_in + 0.5, 0, 1)
    light = np.pi / 4 + rng.normal(0.0, 0.2)
    machining = 0.03 * np.sin(r * 2 * np.pi / (2.5 * size / 128.0))
    metal = _jitter((0.62, 0.63, 0.64), rng, 0.04) * (0.85 + 0.2 * np.cos(theta - light) + machining)[..., None]
    background = _jitter((0.16, 0.19, 0.24), rng, 0.03)
    rgb = background + coverage[..., None] * (metal - background)
    return rgb, coverage > 0.5


# --- defects: each returns the changed RGB; the mask is derived from the 8-bit difference --------


def _curve(size: int, fg: Mask, rng: np.random.Generator) -> Mask:
    """A thin, slightly curved line of random length and direction starting inside ``fg``."""
    y0, x0 = _random_point(fg & _inner(size, 0.2), rng)
    angle = rng.uniform(0, 2 * np.pi)
    length = rng.uniform(0.25, 0.45) * size
    bend = rng.uniform(-0.15, 0.15) * length
    t = np.linspace(-0.5, 0.5, 4 * size)
    py = y0 + t * length * np.sin(angle) + (1 - 4 * t**2) * bend * np.cos(angle)
    px = x0 + t * length * np.cos(angle) - (1 - 4 * t**2) * bend * np.sin(angle)
    inside = (py >= 0) & (py < size) & (px >= 0) & (px < size)
    centre = np.zeros((size, size), dtype=bool)
    centre[py[inside].astype(int), px[inside].astype(int)] = True
    return ndimage.distance_transform_edt(~centre) <= rng.uniform(1.0, 1.8) * size / 128.0


def _scratch(rgb: RGB, fg: Mask, rng: np.random.Generator) -> RGB:
    """A bright or dark scratch; redrawn (deterministically) until most of it lies on the object."""
    for _ in range(20):
        line = _curve(rgb.shape[0], fg, rng)
        if (line & fg).sum() >= 0.8 * line.sum():
            break
    line &= fg
    target = 0.97 if rng.random() < 0.5 else 0.05
    out = rgb.copy()
    out[line] = 0.15 * rgb[line] + 0.85 * target
    return out


def _blob(size: int, center: tuple[float, float], radius: float, rng: np.random.Generator) -> Mask:
    """An irregular blob: a few overlapping ellipses around ``center``."""
    yy, xx = _grid(size)
    blob = np.zeros((size, size), dtype=bool)
    for _ in range(int(rng.integers(3, 6))):
        oy, ox = rng.normal(0.0, 0.45 * radius, 2)
        ry, rx = radius * rng.uniform(0.5, 1.0, 2)
        blob |= ((yy - center[0] - oy) / ry) ** 2 + ((xx - center[1] - ox) / rx) ** 2 < 1.0
    return blob


def _hole(rgb: RGB, fg: Mask, rng: np.random.Generator) -> RGB:
    """A dark, roughly round hole."""
    size = rgb.shape[0]
    yy, xx = _grid(size)
    cy, cx = _random_point(fg & _inner(size), rng)
    radius = rng.uniform(0.05, 0.09) * size
    hole = (np.hypot(yy - cy, xx - cx) < radius * (1 + 0.15 * np.sin(3 * np.arctan2(yy - cy, xx - cx)))) & fg
    out = rgb.copy()
    out[hole] = 0.12 * rgb[hole] + 0.02
    return out


def _stain(rgb: RGB, fg: Mask, rng: np.random.Generator) -> RGB:
    """A translucent coloured blob (rust, oil, ink)."""
    size = rgb.shape[0]
    stain = _blob(size, _random_point(fg & _inner(size), rng), rng.uniform(0.06, 0.11) * size, rng) & fg
    color = np.array([(0.55, 0.27, 0.08), (0.10, 0.12, 0.45), (0.15, 0.40, 0.12)][int(rng.integers(3))])
    alpha = rng.uniform(0.7, 0.9)
    out = rgb.copy()
    out[stain] = (1 - alpha) * rgb[stain] + alpha * color
    return out


def _missing_thread(rgb: RGB, fg: Mask, rng: np.random.Generator) -> RGB:
    """Weave with a band of threads gone: the dark backing shows through."""
    size = rgb.shape[0]
    yy, xx = _grid(size)
    cy, cx = _random_point(_inner(size), rng)
    long_side, short_side = rng.uniform(0.2, 0.35) * size, rng.uniform(0.06, 0.1) * size
    if rng.random() < 0.5:
        long_side, short_side = short_side, long_side
    band = (np.abs(yy - cy) < long_side / 2) & (np.abs(xx - cx) < short_side / 2)
    backing = np.percentile(rgb.reshape(-1, 3), 3, axis=0)
    out = rgb.copy()
    out[band] = backing * 0.7
    return out


def _missing_piece(rgb: RGB, fg: Mask, rng: np.random.Generator) -> RGB:
    """A bite out of the washer's outer edge: the background shows instead."""
    size = rgb.shape[0]
    yy, xx = _grid(size)
    ys, xs = np.nonzero(fg)
    cy, cx = ys.mean(), xs.mean()
    r_out = np.hypot(ys - cy, xs - cx).max()
    theta = rng.uniform(0, 2 * np.pi)
    by, bx = cy + r_out * np.sin(theta), cx + r_out * np.cos(theta)
    bite = (np.hypot(yy - by, xx - bx) < rng.uniform(0.08, 0.12) * size) & fg
    out = rgb.copy()
    out[bite] = np.median(rgb[~fg], axis=0)
    return out


Renderer = Callable[[int, np.random.Generator], tuple[RGB, Mask]]
Defect = Callable[[RGB, Mask, np.random.Generator], RGB]


@dataclass(frozen=True)
class _Category:
    render: Renderer
    defects: dict[str, Defect]


CATEGORIES: dict[str, _Category] = {
    "weave": _Category(_weave, {"hole": _hole, "stain": _stain, "missing": _missing_thread}),
    "marble": _Category(_marble, {"scratch": _scratch, "hole": _hole, "stain": _stain}),
    "washer": _Category(_washer, {"scratch": _scratch, "stain": _stain, "missing": _missing_piece}),
}


def _key(*parts: str | int) -> list[int]:
    """A stable integer seed sequence (crc32 of names: Python's str hash is salted per process)."""
    return [p if isinstance(p, int) else zlib.crc32(p.encode()) for p in parts]


def synthesize_image(category: str, split: str, kind: str, index: int, *, seed: int, size: int) -> SyntheticImage:
    """Generate one image; ``kind`` is ``"good"`` or one of the category's defect names."""
    spec = CATEGORIES[category]
    rng_normal = np.random.default_rng(_key(seed, category, split, kind, index, 0))
    rgb, fg = spec.render(size, rng_normal)
    normal = _finish(rgb, rng_normal)
    if kind == "good":
        return SyntheticImage(normal, normal, np.zeros((size, size), dtype=bool))
    rng_defect = np.random.default_rng(_key(seed, category, split, kind, index, 1))
    changed = spec.defects[kind](normal / 255.0, fg, rng_defect)
    image = np.round(np.clip(changed, 0.0, 1.0) * 255.0).astype(np.uint8)
    return SyntheticImage(normal, image, (image != normal).any(axis=-1))


# --- writing --------------------------------------------------------------------------------------


def _save_png(array: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format="PNG")


def _write_category(out: Path, category: str, *, seed: int, size: int) -> None:
    folder = out / category
    jobs = [("train", "good", N_TRAIN), ("test", "good", N_TEST_GOOD)]
    jobs += [("test", kind, N_TEST_PER_DEFECT) for kind in CATEGORIES[category].defects]
    for split, kind, count in jobs:
        for index in range(count):
            sample = synthesize_image(category, split, kind, index, seed=seed, size=size)
            _save_png(sample.image, folder / split / kind / f"{index:03d}.png")
            if kind != "good":
                _save_png(sample.mask.astype(np.uint8) * 255, folder / "ground_truth" / kind / f"{index:03d}_mask.png")


def generate_synthetic(out: Path, *, categories: Sequence[str] | None = None, seed: int = 0, size: int = 128) -> Path:
    """Write the synthetic dataset (MVTec layout) into ``out`` and return ``out``."""
    names = list(CATEGORIES) if categories is None else list(categories)
    unknown = [c for c in names if c not in CATEGORIES]
    if unknown:
        raise DataError(
            f"{out}: unknown synthetic category '{unknown[0]}'{did_you_mean(unknown[0], CATEGORIES)} "
            f"(available: {', '.join(CATEGORIES)})"
        )
    if size < MIN_IMAGE_SIDE:
        raise DataError(f"{out}: synthetic image size {size} is too small (expected >= {MIN_IMAGE_SIDE})")
    out = Path(out)
    for category in names:
        _write_category(out, category, seed=seed, size=size)
    atomic_write_json(out / MARKER, _marker(names, seed, size))
    return out


def _marker(categories: list[str], seed: int, size: int) -> dict[str, object]:
    return {"generator_version": GENERATOR_VERSION, "categories": categories, "seed": seed, "size": size}


def default_synthetic_root(*, seed: int = 0, size: int = 128) -> Path:
    """The full synthetic dataset in the cache folder, generated on first use.

    Generation goes to a temporary sibling folder that is renamed into place, so a crash never
    leaves half a dataset and concurrent callers (e.g. parallel trials) each end up with a complete
    one: the first rename wins, the others discard their copy.
    """
    base = cache_dir()
    target = base / f"synthetic-v{GENERATOR_VERSION}-seed{seed}-size{size}"
    if _complete(target, seed, size):
        return target
    if target.exists() and not _complete(target, seed, size):  # not ours (or damaged): rebuild
        shutil.rmtree(target)
    try:
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=base, prefix=f".{target.name}."))
    except OSError as exc:
        raise DataError(f"{base}: cannot write the synthetic-data cache ({exc.strerror}); set {CACHE_ENV}") from None
    try:
        generate_synthetic(tmp, seed=seed, size=size)
        os.rename(tmp, target)
    except OSError:
        if not _complete(target, seed, size):
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def _complete(folder: Path, seed: int, size: int) -> bool:
    try:
        return json.loads((folder / MARKER).read_text()) == _marker(list(CATEGORIES), seed, size)
    except (OSError, ValueError):
        return False
