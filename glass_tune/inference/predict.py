"""Score new images with a trained model: heat-map overlays, decisions and a CSV of image scores.

The model is the run's SELECTED epoch (``Checkpoint.best_model_state``), found from a checkpoint
file, a train run folder, a Ray trial or checkpoint folder, or an experiment (its best trial); an
exported ONNX file gives the same outputs through onnxruntime. Decisions use the thresholds the
run calibrated on its validation set (stored in the checkpoint and in the ONNX metadata) unless
the caller overrides them: per image ``is_anomalous`` (score >= image threshold) and a binary
defect mask (map >= pixel threshold) beside the heat map.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from glass_tune.data import normalize
from glass_tune.data.images import load_rgb, resize_crop, to_float01, to_uint8_tensor
from glass_tune.experiment.results import best_trial, checkpoint_file, load_trials
from glass_tune.experiment.storage import Location, resolve
from glass_tune.model import GlassModel
from glass_tune.search.protocol import CHECKPOINT_FILE
from glass_tune.training.checkpoint import Checkpoint, load_checkpoint, selected_model
from glass_tune.util.atomic_io import atomic_write_bytes, atomic_write_text
from glass_tune.util.errors import UserError
from glass_tune.util.runtime import resolve_device

RUN_CHECKPOINTS = ("best.pt", "last.pt")  # a train run folder's checkpoints/, in order of preference
RAY_RESULT_FILE = "result.json"  # what marks a Ray trial folder

OUTPUT_NAMES = ("score", "anomaly_map")  # of an exported ONNX graph (glass_tune.export.onnx_model)
THRESHOLDS_METADATA = "thresholds"  # ONNX metadata key: the calibrated thresholds as JSON
# images in [0, 1] (B x 3 x H x W) -> (scores B, maps B x H x W)
Scorer = Callable[[torch.Tensor], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Thresholds:
    """The decision thresholds in use and where they came from (``stored`` or ``override``)."""

    image: float
    pixel: float
    source: str


HEATMAP_SUFFIX = "_heatmap.png"
MASK_SUFFIX = "_mask.png"  # the binary defect mask beside each heat map


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


def locate_checkpoint(source: str | Path, *, category: str | None = None) -> Location:
    """The checkpoint file behind ``source`` (a local path or a storage URI): a file, a train run
    folder (checkpoints/best.pt), a Ray checkpoint folder (checkpoint.pt), a trial folder (its newest
    kept checkpoint), or an experiment or category folder (its best trial, see glass_tune.experiment.results)."""
    location = resolve(str(source))
    if location.is_file() or not location.exists():
        return location  # read_checkpoint names a missing file
    candidates = [location / CHECKPOINT_FILE] + [location / "checkpoints" / name for name in RUN_CHECKPOINTS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if (location / RAY_RESULT_FILE).is_file():
        return _newest_trial_checkpoint(location)
    return _best_trial_checkpoint(source, category)


def _newest_trial_checkpoint(trial_dir: Location) -> Location:
    """A trial folder's newest kept Ray checkpoint: every checkpoint carries the selected epoch's
    weights as of its epoch, so the newest holds the trial's final selection."""
    kept = [d / CHECKPOINT_FILE for d in trial_dir.subdirs() if d.name.startswith("checkpoint_")]
    kept = [f for f in kept if f.is_file()]
    if not kept:
        raise UserError(f"{trial_dir}: this trial kept no checkpoint")
    return kept[-1]


def _best_trial_checkpoint(source: str | Path, category: str | None) -> Location:
    from glass_tune.export.config_formats import locate_category

    category_dir, objective = locate_category(source, category=category)
    trials = load_trials(category_dir=category_dir, objective=objective)
    best = best_trial((t for t in trials if t.error is None), objective=objective)
    found = None if best is None else checkpoint_file(trial=best, category_dir=category_dir)
    if found is None:
        raise UserError(f"{category_dir}: no trial with a checkpoint (all errored?)")
    return found


def read_checkpoint(location: Location) -> Checkpoint:
    """Load a checkpoint file wherever it lives (on object storage through a temporary local copy)."""
    if location.is_local:
        return load_checkpoint(location.local_path)
    if not location.is_file():
        raise UserError(f"{location}: checkpoint file not found")
    with tempfile.TemporaryDirectory(prefix="glass-tune-checkpoint-") as tmp:
        local = Path(tmp) / location.name
        location.download_to(local)
        return load_checkpoint(local)


def load_trained_model(source: str | Path, *, device: torch.device, category: str | None = None) -> GlassModel:
    """The selected epoch's model behind ``source`` (see :func:`locate_checkpoint`), in eval mode."""
    location = locate_checkpoint(source, category=category)
    return selected_model(read_checkpoint(location), source=str(location)).to(device)


def load_image01(path: str | Path, *, input_shape: tuple[int, int]) -> torch.Tensor:
    """One file through the official geometry, as float32 3 x H x W in [0, 1] (before normalisation)."""
    return to_float01(to_uint8_tensor(resize_crop(load_rgb(path), tuple(input_shape))))


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


def torch_scorer(model: GlassModel, device: torch.device) -> Scorer:
    def score(images01: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        scores, maps = model.predict(normalize(images01).to(device))
        return scores.cpu().numpy(), maps.cpu().numpy()

    return score


def require_optional(module: str) -> Any:
    """Import an optional dependency of the ``onnx`` extra, or say how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise UserError(f"{module} is not installed (pip install 'glass-tune[onnx]')") from None


def onnx_scorer(path: str | Path) -> tuple[tuple[int, int], Scorer]:
    """``(input_shape, scorer)`` for an exported file, run by onnxruntime on the CPU."""
    input_shape, scorer, _ = onnx_model(path)
    return input_shape, scorer


def onnx_model(path: str | Path) -> tuple[tuple[int, int], Scorer, dict[str, Any] | None]:
    """``(input_shape, scorer, stored thresholds)`` of an exported file (thresholds None when absent)."""
    ort = require_optional("onnxruntime")
    file = Path(path)
    if not file.is_file():
        raise UserError(f"{file}: ONNX file not found")
    try:
        session = ort.InferenceSession(str(file), providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types for bad files
        raise UserError(f"{file}: not a loadable ONNX model ({type(exc).__name__})") from None
    inputs = session.get_inputs()
    shape = inputs[0].shape if len(inputs) == 1 else []
    if len(shape) != 4 or not all(isinstance(d, int) for d in shape[1:]):
        raise UserError(f"{file}: expected one N x 3 x H x W input (a glass-tune export), found {[i.shape for i in inputs]}")
    name, input_shape = inputs[0].name, (int(shape[2]), int(shape[3]))

    def score(images01: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
        scores, maps = session.run(list(OUTPUT_NAMES), {name: images01.numpy().astype(np.float32)})
        return scores, maps

    stored = session.get_modelmeta().custom_metadata_map.get(THRESHOLDS_METADATA)
    return input_shape, score, None if stored is None else json.loads(stored)


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
    """Write a heat map and a binary defect mask per image (see :func:`heatmap_names`) and
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


def _png(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    return buf.getvalue()


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
        mask = heatmap.with_name(heatmap.name.removesuffix(HEATMAP_SUFFIX) + MASK_SUFFIX)
        atomic_write_bytes(heatmap, _png(overlay(tensor, amap[0])))
        atomic_write_bytes(mask, _png(Image.fromarray((amap[0] >= thresholds.pixel).astype(np.uint8) * 255)))
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
    atomic_write_text(out_dir / "scores.csv", rows.getvalue())
    return results
