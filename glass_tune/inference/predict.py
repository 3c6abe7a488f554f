"""Score new images with a trained model: heat-map overlays, decisions and a CSV of image scores.

The model is the run's SELECTED epoch behind a checkpoint, run, trial or experiment
(``glass_tune.inference.model_source``), scored by torch (``scorer``), or an exported ONNX file scored
by onnxruntime (``onnx_scorer``) with the same outputs (``heatmaps``). Decisions use the thresholds
the run calibrated on its validation set (stored in the checkpoint and in the ONNX metadata) unless
the caller overrides them: per image ``is_anomalous`` (score >= image threshold) and a binary defect
mask (map >= pixel threshold) beside the heat map.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from glass_tune.inference.heatmaps import defect_mask, heatmap_names, mask_name, overlay, png
from glass_tune.inference.model_source import locate_checkpoint, read_checkpoint
from glass_tune.inference.onnx_scorer import onnx_model
from glass_tune.inference.scorer import Scorer, load_image01, torch_scorer
from glass_tune.training.checkpoint import selected_model
from glass_tune.util.atomic_io import atomic_write_bytes, atomic_write_text
from glass_tune.util.errors import UserError
from glass_tune.util.runtime import resolve_device

SCORES_FILE = "scores.csv"


@dataclass(frozen=True)
class Thresholds:
    """The decision thresholds in use and where they came from (``stored`` or ``override``)."""

    image: float
    pixel: float
    source: str


@dataclass
class Prediction:
    path: Path
    score: float
    heatmap: Path
    is_anomalous: bool
    mask: Path
    threshold: float


def decision_thresholds(stored: dict[str, Any] | None, *, image: float | None, pixel: float | None, where: str) -> Thresholds:
    """Overrides win; a missing pixel threshold follows the image one (both are sigmoid scores)."""
    if image is None and stored is None:
        raise UserError(f"{where}: no calibrated threshold stored (trained before thresholds existed); pass --threshold")
    image_t = float(image if image is not None else stored["image_threshold"])  # type: ignore[index]
    if pixel is not None:
        pixel_t = float(pixel)
    elif image is None:
        pixel_t = float(stored["pixel_threshold"])  # type: ignore[index]
    else:
        pixel_t = image_t
    source = "stored" if image is None and pixel is None else "override"
    return Thresholds(image=image_t, pixel=pixel_t, source=source)


def predict_images(
    images: Sequence[str | Path],
    *,
    out_dir: str | Path,
    checkpoint: str | Path | None = None,
    onnx: str | Path | None = None,
    device: str = "auto",
    category: str | None = None,
    threshold: float | None = None,
    pixel_threshold: float | None = None,
) -> list[Prediction]:
    """Write a heat map and a binary defect mask per image (see ``heatmaps.heatmap_names``) and
    ``scores.csv`` (score, decision, thresholds); inputs are validated before any output.

    Exactly one of ``checkpoint`` (torch) and ``onnx`` (an exported model, run by onnxruntime);
    ``threshold`` / ``pixel_threshold`` override the calibrated ones.
    """
    if (checkpoint is None) == (onnx is None):
        raise UserError("predict needs exactly one of --checkpoint and --onnx")
    if onnx is not None:
        input_shape, scorer, stored = onnx_model(onnx)
        where = str(onnx)
    else:
        dev = resolve_device(device)
        location = locate_checkpoint(checkpoint, category=category)
        ckpt = read_checkpoint(location)
        model = selected_model(ckpt, source=str(location)).to(dev)
        input_shape, scorer, stored, where = model.input_shape, torch_scorer(model, dev), ckpt.thresholds, str(location)
    thresholds = decision_thresholds(stored, image=threshold, pixel=pixel_threshold, where=where)
    tensors = [load_image01(p, input_shape=input_shape) for p in images]
    return write_predictions(images, tensors, scorer, out_dir=Path(out_dir), thresholds=thresholds)


@torch.no_grad()
def write_predictions(
    images: Sequence[str | Path],
    tensors: Sequence[torch.Tensor],
    scorer: Scorer,
    *,
    out_dir: Path,
    thresholds: Thresholds,
) -> list[Prediction]:
    results: list[Prediction] = []
    for path, tensor, name in zip(images, tensors, heatmap_names(images), strict=True):
        score, amap = scorer(tensor.unsqueeze(0))
        heatmap = out_dir / name
        mask = mask_name(heatmap)
        atomic_write_bytes(heatmap, png(overlay(tensor, amap[0])))
        atomic_write_bytes(mask, png(defect_mask(amap[0], threshold=thresholds.pixel)))
        value = float(score[0])
        results.append(Prediction(Path(path), value, heatmap, value >= thresholds.image, mask, thresholds.image))
    rows = io.StringIO()
    writer = csv.writer(rows)
    writer.writerow(["image", "score", "is_anomalous", "threshold", "pixel_threshold", "threshold_source", "heatmap", "mask"])
    for r in results:
        writer.writerow(
            [
                str(r.path),
                f"{r.score:.6f}",
                int(r.is_anomalous),
                f"{r.threshold:.6f}",
                f"{thresholds.pixel:.6f}",
                thresholds.source,
                r.heatmap.relative_to(out_dir).as_posix(),
                r.mask.relative_to(out_dir).as_posix(),
            ]
        )
    atomic_write_text(out_dir / SCORES_FILE, rows.getvalue())
    return results
