"""The images ``predict`` writes and their names: jet heat-map overlays, binary defect masks, and one
output name per input that never puts two inputs on one file.
"""

from __future__ import annotations

import io
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

HEATMAP_SUFFIX = "_heatmap.png"
MASK_SUFFIX = "_mask.png"  # the binary defect mask beside each heat map


def relative_names(paths: Sequence[str | Path]) -> list[Path]:
    """Each path relative to the longest common parent of all: distinct files get distinct names
    (MVTec, VisA and folder datasets repeat base names such as ``000.png`` across defect folders)."""
    resolved = [Path(p).resolve() for p in paths]
    if not resolved:
        return []
    root = Path(os.path.commonpath([p.parent for p in resolved]))
    return [p.relative_to(root) for p in resolved]


def heatmap_names(paths: Sequence[str | Path]) -> list[Path]:
    """One output per input, never two inputs on one file: ``<relative path>_heatmap.png`` without the
    image extension, with it where two inputs differ only in their extension (``a.png``, ``a.jpg``)."""
    names = relative_names(paths)
    sources: dict[Path, set[Path]] = {}
    for name in names:
        sources.setdefault(name.with_suffix(""), set()).add(name)
    return [
        name.parent / f"{name.stem if len(sources[name.with_suffix('')]) == 1 else name.name}{HEATMAP_SUFFIX}" for name in names
    ]


def mask_name(heatmap: Path) -> Path:
    """The defect mask's file beside a heat map."""
    return heatmap.with_name(heatmap.name.removesuffix(HEATMAP_SUFFIX) + MASK_SUFFIX)


def jet(values: np.ndarray) -> np.ndarray:
    """The classic jet colour map for values in [0, 1] -> uint8 RGB (no plotting library needed)."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    rgb = np.clip(1.5 - np.abs(4.0 * v - np.array([3.0, 2.0, 1.0])), 0.0, 1.0)
    return (rgb * 255).astype(np.uint8)


def overlay(image01: torch.Tensor, anomaly_map: np.ndarray, *, alpha: float = 0.5) -> Image.Image:
    """Blend the [0, 1] image with the jet-coloured map; scores are absolute (sigmoid), not rescaled."""
    rgb = (image01.cpu().clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.float32)
    blended = (1 - alpha) * rgb + alpha * jet(anomaly_map).astype(np.float32)
    return Image.fromarray(blended.round().astype(np.uint8))


def defect_mask(anomaly_map: np.ndarray, *, threshold: float) -> Image.Image:
    """White where the map reaches the pixel threshold, black elsewhere."""
    return Image.fromarray((anomaly_map >= threshold).astype(np.uint8) * 255)


def png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()
