"""The tiny CPU profile and the small search spaces the tests run on."""

from __future__ import annotations

from pathlib import Path

import yaml

from glass_tune.config.schema import read_yaml_mapping

# resnet18 at 64 px (8x8 patch grid), random init, small heads: a few seconds per epoch on one core
# (the bundled profile glass_tune/config/profiles/tiny.yaml, which benchmarks/gpu_check.py shares).
TINY = read_yaml_mapping("tiny")
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
