"""Score new images with a trained checkpoint: heat-map overlays and a CSV of image scores."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from glass_tune.checkpoint import load_checkpoint
from glass_tune.data import IMAGENET_MEAN, IMAGENET_STD, load_image_tensor
from glass_tune.errors import UserError
from glass_tune.io import atomic_write_bytes, atomic_write_text
from glass_tune.model import GlassModel
from glass_tune.runtime import resolve_device


@dataclass
class Prediction:
    path: Path
    score: float
    heatmap: Path


def load_trained_model(checkpoint: str | Path, *, device: torch.device) -> GlassModel:
    """Rebuild the model from the checkpoint's config and load its trained weights.

    A run directory is accepted too (its ``checkpoints/best.pt`` is used).
    """
    path = Path(checkpoint)
    if path.is_dir():
        path = path / "checkpoints" / "best.pt"
    ckpt = load_checkpoint(path)
    model = GlassModel.from_config(ckpt.config)
    missing, unexpected = model.load_state_dict(ckpt.model_state, strict=False)
    if unexpected or any(not k.startswith("backbone.") for k in missing):
        raise UserError(f"{path}: checkpoint does not match its own config's model")
    return model.to(device).eval()


def jet(values: np.ndarray) -> np.ndarray:
    """The classic jet colour map for values in [0, 1] -> uint8 RGB (no plotting library needed)."""
    v = np.clip(values, 0.0, 1.0)[..., None]
    rgb = np.clip(1.5 - np.abs(4.0 * v - np.array([3.0, 2.0, 1.0])), 0.0, 1.0)
    return (rgb * 255).astype(np.uint8)


def overlay(image: torch.Tensor, anomaly_map: np.ndarray, *, alpha: float = 0.5) -> Image.Image:
    """Blend the de-normalised image with the jet-coloured map; scores are absolute (sigmoid), not rescaled."""
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    rgb = ((image.cpu() * std + mean).clamp(0, 1).permute(1, 2, 0).numpy() * 255).astype(np.float32)
    blended = (1 - alpha) * rgb + alpha * jet(anomaly_map).astype(np.float32)
    return Image.fromarray(blended.round().astype(np.uint8))


@torch.no_grad()
def predict_images(
    checkpoint: str | Path, images: Sequence[str | Path], *, out_dir: str | Path, device: str = "auto"
) -> list[Prediction]:
    """Write ``<stem>_heatmap.png`` per image and ``scores.csv``; inputs are validated before any output."""
    dev = resolve_device(device)
    model = load_trained_model(checkpoint, device=dev)
    tensors = [load_image_tensor(Path(p), input_shape=model.input_shape) for p in images]
    out = Path(out_dir)
    results: list[Prediction] = []
    for path, tensor in zip(images, tensors, strict=True):
        score, amap = model.predict(tensor.unsqueeze(0).to(dev))
        target = out / f"{Path(path).stem}_heatmap.png"
        buf = io.BytesIO()
        overlay(tensor, amap[0].cpu().numpy()).save(buf, format="PNG")
        atomic_write_bytes(target, buf.getvalue())
        results.append(Prediction(Path(path), float(score[0]), target))
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["image", "score", "heatmap"])
    for r in results:
        writer.writerow([str(r.path), f"{r.score:.6f}", r.heatmap.name])
    atomic_write_text(out / "scores.csv", rows.getvalue())
    return results
