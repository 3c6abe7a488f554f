"""Constants and helpers shared by test modules (import them from here, not from conftest)."""

from __future__ import annotations

from pathlib import Path

import yaml

from glass_tune.config.schema import read_yaml_mapping

# resnet18 at 64 px (8x8 patch grid), random init, small heads: a few seconds per epoch on one core
# (the bundled profile glass_tune/config/profiles/tiny.yaml, which benchmarks/gpu_check.py shares).
TINY = read_yaml_mapping("tiny")


def write_tiny_config(path: Path) -> Path:
    """``TINY`` as a ``--config`` YAML file, epochs left to the command line."""
    path.write_text(yaml.safe_dump({k: v for k, v in TINY.items() if k != "epochs"}))
    return path
