"""Image and mask loading plus the official GLASS preprocessing (docs/algorithm.md §1.1).

Every reader turns decoder failures into a one-line :class:`DataError` that names the file, so a
corrupt PNG deep inside a dataset stops a run with a message instead of a PIL traceback.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torchvision.transforms import InterpolationMode

from glass_tune.util.errors import DataError, message_line

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})

_MEAN = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
_STD = torch.tensor(IMAGENET_STD).view(3, 1, 1)


def is_image_file(path: Path) -> bool:
    """True for a visible entry with a known image extension (any case) that is not a folder.

    Broken symbolic links (dangling or looping) count as image files on purpose: listing them
    lets the data check report them by name instead of silently training on fewer images.
    macOS ``._*`` litter is skipped.
    """
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".") and not path.is_dir()


def open_image(path: str | Path) -> Image.Image:
    """Decode the whole file now (PIL is lazy) so that truncated data fails here, naming the file."""
    path = Path(path)
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise DataError(
            f"{path}: cannot read image ({_unreadable_reason(path, exc)}); expected a PNG/JPEG/BMP/TIFF file"
        ) from None
    return img


def _unreadable_reason(path: Path, exc: Exception) -> str:
    """Why a file did not decode, in words a user can act on."""
    if path.is_symlink() and not path.exists():
        return "broken symbolic link: its target is missing or it points to itself"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if path.is_file() and path.stat().st_size == 0:
        return "empty file, 0 bytes"
    if isinstance(exc, UnidentifiedImageError):
        return "not an image in any known format"
    return f"truncated or corrupt data: {message_line(exc)}"


def _wide_to_uint8(img: Image.Image) -> Image.Image:
    """16-bit and 32-bit grayscale modes: scale to 8 bit (``convert`` would clip at 255 instead)."""
    arr = np.asarray(img)
    if img.mode == "F":
        top = 1.0 if float(np.nanmax(arr, initial=0.0)) <= 1.0 else 255.0
    else:  # "I" / "I;16*": 16-bit data unless every value already fits in 8 bits
        top = 65535.0 if int(arr.max(initial=0)) > 255 else 255.0
    scaled = np.clip(np.nan_to_num(arr.astype(np.float64)) / top * 255.0 + 0.5, 0, 255)
    return Image.fromarray(scaled.astype(np.uint8))


def load_rgb(path: str | Path) -> Image.Image:
    """Any image file as 8-bit RGB: grayscale, palette, RGBA (alpha dropped, as the official code
    does), CMYK and 16-bit inputs are all converted."""
    img = open_image(path)
    if img.mode in ("I", "F") or img.mode.startswith("I;16"):
        img = _wide_to_uint8(img)
    return img.convert("RGB")


def load_mask(path: str | Path) -> np.ndarray:
    """A ground-truth mask as a boolean H×W array: any non-zero value (any channel) is anomalous."""
    arr = np.asarray(open_image(path))
    return arr.any(axis=-1) if arr.ndim == 3 else arr > 0


def cover_size(size_hw: tuple[int, int], input_shape: tuple[int, int]) -> tuple[int, int]:
    """The smallest aspect-preserving size that covers ``input_shape``.

    For a square target this is exactly torchvision's ``Resize(int)`` (shorter side to the target,
    longer side truncated), which the official code uses; non-square targets generalise it.
    """
    (h, w), (th, tw) = size_hw, input_shape
    if th / h >= tw / w:
        return th, max(tw, int(w * th / h))
    return max(th, int(h * tw / w)), tw


def resize_cover(img: Image.Image, input_shape: tuple[int, int], *, nearest: bool = False) -> Image.Image:
    """Aspect-preserving resize to :func:`cover_size` (bilinear, or nearest for masks)."""
    size = cover_size((img.height, img.width), input_shape)
    if size == (img.height, img.width):
        return img
    interp = InterpolationMode.NEAREST if nearest else InterpolationMode.BILINEAR
    return TF.resize(img, list(size), interpolation=interp)


def resize_crop(img: Image.Image, input_shape: tuple[int, int], *, nearest: bool = False) -> Image.Image:
    """Official geometry: resize so the image covers ``input_shape``, then centre-crop to it."""
    return TF.center_crop(resize_cover(img, input_shape, nearest=nearest), list(input_shape))


def to_uint8_tensor(img: Image.Image) -> Tensor:
    """PIL RGB → uint8 tensor 3×H×W (the compact form the dataset caches keep)."""
    return torch.from_numpy(np.array(img, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def to_float01(x: Tensor) -> Tensor:
    """uint8 → float32 in [0, 1], identical to ``ToTensor``."""
    return x.to(torch.float32).div_(255.0)


def normalize(x01: Tensor) -> Tensor:
    """ImageNet normalisation of a [0, 1] tensor (…×3×H×W)."""
    return (x01 - _MEAN) / _STD


def denormalize(x: Tensor) -> Tensor:
    """Inverse of :func:`normalize` (for visualisation)."""
    return x * _STD + _MEAN


def load_image_tensor(path: str | Path, *, input_shape: tuple[int, int]) -> Tensor:
    """One file through the whole official pipeline: normalised float32 3×H×W, ready for a model."""
    return normalize(to_float01(to_uint8_tensor(resize_crop(load_rgb(path), input_shape))))


def preprocess_mask(mask: np.ndarray, input_shape: tuple[int, int], *, protocol: str = "nearest") -> Tensor:
    """Apply the image geometry to a boolean mask → float32 H×W in {0, 1}.

    ``protocol`` is how the resized mask is binarised (docs/algorithm.md §1.1), which moves pixel AUROC by
    about a one-pixel band around every defect:

    - ``nearest``: nearest-neighbour resize (no interpolated edge at all);
    - ``mvtec``: the official MVTec code: bilinear resize of the 8-bit mask, then ``astype(int)`` on
      the [0, 1] tensor, which keeps only fully covered pixels (the edge is eroded);
    - ``visa``: the official VisA code: bilinear resize of the float mask, then ``> 0`` (the edge
      is dilated).
    """
    if protocol == "nearest":
        out = np.asarray(resize_crop(Image.fromarray(mask.astype(np.uint8) * 255), input_shape, nearest=True)) > 0
    elif protocol == "mvtec":
        out = np.asarray(resize_crop(Image.fromarray(mask.astype(np.uint8) * 255), input_shape)) >= 255
    elif protocol == "visa":
        out = np.asarray(resize_crop(Image.fromarray(mask.astype(np.float32)), input_shape)) > 0
    else:
        raise ValueError(f"unknown mask protocol {protocol!r}")
    return torch.from_numpy(out.astype(np.float32))
