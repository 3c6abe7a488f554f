"""The scorer contract: images in [0, 1] (B x 3 x H x W) in, image scores (B) and anomaly maps
(B x H x W) out; the torch scorer of a trained model, and how one image file becomes its input.

``glass_tune.inference.onnx_scorer`` gives the same contract through onnxruntime.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from glass_tune.data import normalize
from glass_tune.data.images import load_rgb, resize_crop, to_float01, to_uint8_tensor
from glass_tune.model import GlassModel

# images in [0, 1] (B x 3 x H x W) -> (scores B, maps B x H x W)
Scorer = Callable[[torch.Tensor], tuple[np.ndarray, np.ndarray]]


def load_image01(path: str | Path, *, input_shape: tuple[int, int]) -> torch.Tensor:
    """One file through the official geometry, as float32 3 x H x W in [0, 1] (before normalisation)."""
    return to_float01(to_uint8_tensor(resize_crop(load_rgb(path), tuple(input_shape))))


def torch_scorer(model: GlassModel, device: torch.device) -> Scorer:
    def score(images01: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        scores, maps = model.predict(normalize(images01).to(device))
        return scores.cpu().numpy(), maps.cpu().numpy()

    return score
