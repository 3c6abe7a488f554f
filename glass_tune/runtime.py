"""Run-environment helpers: device choice, seeding and the version record every run writes."""

from __future__ import annotations

import platform
import random
from importlib import metadata
from typing import Any

import numpy as np
import torch

from glass_tune.errors import ConfigError

_RECORDED_PACKAGES = ("glass-tune", "torch", "torchvision", "timm", "numpy", "scikit-learn", "ray", "optuna")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA on a machine without it is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda: no CUDA device is available on this machine (use --device cpu or auto)")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) and ask cuDNN for deterministic kernels, as the official code."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


def versions() -> dict[str, Any]:
    """Versions of Python and the packages that shape a run's numbers."""
    out: dict[str, Any] = {"python": platform.python_version()}
    for name in _RECORDED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    return out
