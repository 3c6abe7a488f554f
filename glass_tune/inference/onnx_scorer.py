"""The scorer of an exported ONNX file (``glass_tune.export.onnx_model`` writes it), run by onnxruntime
on the CPU, and the graph's contract both sides share: output names and the thresholds metadata.

onnxruntime, onnx and onnxscript are the optional ``onnx`` extra: :func:`require_optional` imports one
or says how to install it.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from glass_tune.inference.scorer import Scorer
from glass_tune.util.errors import UserError

OUTPUT_NAMES = ("score", "anomaly_map")  # of an exported ONNX graph
THRESHOLDS_METADATA = "thresholds"  # ONNX metadata key: the calibrated thresholds as JSON


def require_optional(module: str) -> Any:
    """Import an optional dependency of the ``onnx`` extra, or say how to install it."""
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
