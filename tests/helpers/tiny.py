"""The tiny CPU profile and the small search spaces the tests run on."""

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
# A one-parameter space: cheap trials whose configs still differ.
STEP_SPACE = {"params": {"step": {"type": "int", "low": 2, "high": 6}}, "points_to_evaluate": [{"step": 5}]}
# Two parameters, one of them log-scaled: the tuner and report tests' space.
TWO_PARAM_SPACE = {
    "metric": "best_score",
    "mode": "max",
    "params": {
        "step": {"type": "int", "low": 2, "high": 6},
        "gaussian_noise_std": {"type": "float", "low": 0.005, "high": 0.05, "log": True},
    },
    "points_to_evaluate": [{"step": 5, "gaussian_noise_std": 0.015}],
}


def write_tiny_config(path: Path) -> Path:
    """``TINY`` as a ``--config`` YAML file, epochs left to the command line."""
    path.write_text(yaml.safe_dump({k: v for k, v in TINY.items() if k != "epochs"}))
    return path
