"""Constants and helpers shared by test modules (import them from here, not from conftest)."""

from __future__ import annotations

from pathlib import Path

import yaml

# resnet18 at 64 px (8x8 patch grid), random init, small heads: a few seconds per epoch on one core.
TINY = {
    "backbone": "resnet18",
    "pre_trained": False,
    "input_shape": [64, 64],
    "pretrain_embed_dim": 64,
    "target_embed_dim": 64,
    "discriminator_hidden": 32,
    "step": 5,
    "batch_size": 4,
    "samples_per_epoch": 8,
    "epochs": 2,
    "device": "cpu",
}


def write_tiny_config(path: Path) -> Path:
    """``TINY`` as a ``--config`` YAML file, epochs left to the command line."""
    path.write_text(yaml.safe_dump({k: v for k, v in TINY.items() if k != "epochs"}))
    return path
