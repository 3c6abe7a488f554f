"""Texture sources for Local Anomaly Synthesis and the official texture pipeline (docs/algorithm.md §3.1.1).

The official code draws a DTD image, resizes its shorter side to the input size, applies 3 distinct
transforms out of 9 and centre-crops. torchvision's random transforms read the global torch RNG, so
here every random choice and parameter comes from the numpy Generator passed in: a sample is then a
pure function of its seed, whatever the number of DataLoader workers.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
import torchvision.transforms.functional as TF
from PIL import Image
from torch import Tensor

from glass_tune.data.images import is_image_file, load_rgb, resize_cover, to_float01, to_uint8_tensor
from glass_tune.data.perlin import perlin_noise
from glass_tune.util.errors import DataError

Transform = Callable[[Image.Image, np.random.Generator], Image.Image]
TRANSFORMS_PER_TEXTURE = 3
MAX_UNREADABLE_DRAWS = 20


def _contrast(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return TF.adjust_contrast(img, rng.uniform(0.8, 1.2))


def _brightness(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return TF.adjust_brightness(img, rng.uniform(0.8, 1.2))


def _saturation_hue(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    # ColorJitter shuffles its ops; a fixed order changes nothing visible at these small ranges.
    img = TF.adjust_saturation(img, rng.uniform(0.8, 1.2))
    return TF.adjust_hue(img, rng.uniform(-0.2, 0.2))


def _hflip(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return TF.hflip(img)


def _vflip(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return TF.vflip(img)


def _grayscale(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return TF.rgb_to_grayscale(img, num_output_channels=3)


def _autocontrast(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return TF.autocontrast(img)


def _equalize(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    return TF.equalize(img)


def _rotate(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    # RandomAffine(degrees=45): rotation only, nearest interpolation, black fill.
    return TF.affine(img, angle=float(rng.uniform(-45.0, 45.0)), translate=[0, 0], scale=1.0, shear=[0.0, 0.0])


OFFICIAL_TRANSFORMS: tuple[Transform, ...] = (
    _contrast,
    _brightness,
    _saturation_hue,
    _hflip,
    _vflip,
    _grayscale,
    _autocontrast,
    _equalize,
    _rotate,
)


def augment_texture(img: Image.Image, input_shape: tuple[int, int], rng: np.random.Generator) -> Tensor:
    """Official texture pipeline: cover-resize, 3 distinct random transforms, centre crop → 3×H×W in [0, 1]."""
    img = resize_cover(img, input_shape)
    for k in rng.choice(len(OFFICIAL_TRANSFORMS), size=TRANSFORMS_PER_TEXTURE, replace=False):
        img = OFFICIAL_TRANSFORMS[k](img, rng)
    return to_float01(to_uint8_tensor(TF.center_crop(img, list(input_shape))))


class TextureSource(Protocol):
    """Anything that draws one texture per call, with all randomness from ``rng``."""

    def sample(self, input_shape: tuple[int, int], rng: np.random.Generator) -> Tensor:
        """A texture for an image of ``input_shape`` (h, w): float32 3×h×w in [0, 1]."""
        ...


class _AugmentedTextures(ABC):
    """A source of raw texture images, passed through the official texture pipeline."""

    def sample(self, input_shape: tuple[int, int], rng: np.random.Generator) -> Tensor:
        return augment_texture(self._draw(input_shape, rng), input_shape, rng)

    @abstractmethod
    def _draw(self, input_shape: tuple[int, int], rng: np.random.Generator) -> Image.Image:
        """One raw RGB texture image, before the official pipeline."""


class FolderTextures(_AugmentedTextures):
    """Every image below ``path`` (recursively, any case of extension): DTD's ``images/`` or any folder.

    The file list is sorted so a draw index means the same file on every machine. An unreadable file
    is skipped by drawing again from the same rng, which keeps samples deterministic.
    """

    def __init__(self, path: str | Path) -> None:
        self.root = Path(path).expanduser().resolve()
        if not self.root.is_dir():
            raise DataError(f"{self.root}: texture folder not found (anomaly_source_path must be a folder of images)")
        self.files = sorted(p for p in self.root.rglob("*") if is_image_file(p))
        if not self.files:
            raise DataError(f"{self.root}: no image files (png/jpg/jpeg/bmp/tif/tiff) found in the texture folder")

    def check_readable(self) -> None:
        """Fail now, naming the folder, unless some file decodes: a draw would otherwise fail
        mid-training. Stops at the first readable file, so a healthy folder costs one decode."""
        for path in self.files:
            try:
                load_rgb(path)
            except DataError:
                continue
            return
        raise DataError(f"{self.root}: none of the {len(self.files)} image files in the texture folder can be read")

    def _draw(self, input_shape: tuple[int, int], rng: np.random.Generator) -> Image.Image:
        for _ in range(MAX_UNREADABLE_DRAWS):
            path = self.files[int(rng.integers(len(self.files)))]
            try:
                return load_rgb(path)
            except DataError:
                continue
        raise DataError(f"{self.root}: {MAX_UNREADABLE_DRAWS} texture draws in a row were unreadable images")


class ProceduralTextures(_AugmentedTextures):
    """Built-in textures that need no download: fractal noise, stripes/checks and blotches.

    Stand-in for DTD when ``anomaly_source_path`` is not set. Colours, scales and orientations are
    random, so LAS still produces varied, out-of-distribution patches.
    """

    def _draw(self, input_shape: tuple[int, int], rng: np.random.Generator) -> Image.Image:
        family = _FAMILIES[int(rng.integers(len(_FAMILIES)))]
        field = family(input_shape, rng)  # H×W in [0, 1]
        low, high = rng.random(3), rng.random(3)
        rgb = low + field[..., None] * (high - low)
        return Image.fromarray(np.round(rgb * 255.0).astype(np.uint8))


def fractal_noise(shape: tuple[int, int], rng: np.random.Generator, *, octaves: int = 4, base: int = 2) -> np.ndarray:
    """Sum of Perlin octaves (halving amplitude, doubling frequency), rescaled to [0, 1]."""
    total = np.zeros(shape)
    for octave in range(octaves):
        periods = base * 2**octave
        total += perlin_noise(shape, (periods, periods), rng) / 2**octave
    return _rescale(total)


def _rescale(field: np.ndarray) -> np.ndarray:
    low, high = field.min(), field.max()
    return (field - low) / (high - low) if high > low else np.zeros_like(field)


def _noise_field(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    return fractal_noise(shape, rng, octaves=int(rng.integers(2, 6)), base=int(rng.integers(1, 5)))


def _stripes_field(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Sine stripes at a random angle and period; a second direction multiplied in gives checks."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    angle = rng.uniform(0.0, np.pi)
    period = rng.uniform(4.0, max(shape) / 3.0)
    wave = np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2.0 * np.pi / period + rng.uniform(0, 2 * np.pi))
    if rng.random() < 0.5:
        wave = wave * np.sin((-xx * np.sin(angle) + yy * np.cos(angle)) * 2.0 * np.pi / period)
    return (wave > 0).astype(np.float64) if rng.random() < 0.5 else (wave + 1.0) / 2.0


def _blotches_field(shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """Hard-edged axis-aligned ellipses of random intensity over a random background level."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float64)
    field = np.full(shape, rng.random())
    for _ in range(int(rng.integers(5, 30))):
        cy, cx = rng.uniform(0, shape[0]), rng.uniform(0, shape[1])
        ry, rx = rng.uniform(0.03, 0.2, size=2) * np.array(shape)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 < 1.0
        field[inside] = rng.random()
    return field


_FAMILIES = (_noise_field, _stripes_field, _blotches_field)


def make_texture_source(anomaly_source_path: str | None) -> TextureSource:
    """A folder of texture images (e.g. DTD) when a path is given, else the built-in textures."""
    if anomaly_source_path is None:
        return ProceduralTextures()
    return FolderTextures(anomaly_source_path)
