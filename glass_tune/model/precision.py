"""The ``bf16`` precision switch: autocast contexts for the backbone and discriminator forwards."""

from __future__ import annotations

import torch
from torch import Tensor


def autocast_to(dtype: torch.dtype | None, like: Tensor) -> torch.autocast:
    """Autocast to ``dtype`` on ``like``'s device; a disabled context when ``dtype`` is None."""
    device_type = like.device.type
    return torch.autocast(device_type, dtype=dtype or torch.get_autocast_dtype(device_type), enabled=dtype is not None)
