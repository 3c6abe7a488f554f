"""The issue's acceptance run (marker ``slow``, excluded by default; ``make test-slow``).

resnet18 at 128 px with a random-init (trained) backbone and the CPU profile's dimensions must
reach image and pixel AUROC >= 0.90 within 20 epochs on every built-in synthetic category.
``benchmarks/acceptance_synthetic.py`` records the same run with curves and timings.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from glass_tune.config.schema import load_config
from glass_tune.data import SYNTHETIC_CATEGORIES, default_synthetic_root
from glass_tune.training.loop import fit

PROFILE = Path(__file__).resolve().parents[2] / "glass_tune" / "config" / "profiles" / "cpu_demo.yaml"


@pytest.mark.slow
@pytest.mark.parametrize("category", sorted(SYNTHETIC_CATEGORIES))
def test_cpu_profile_reaches_090_auroc_within_20_epochs(category):
    config = load_config(PROFILE, extra={"epochs": 20, "category": category, "data_root": str(default_synthetic_root())})
    result = fit(config)
    assert result.best["image_auroc"] >= 0.90, result.best
    assert result.best["pixel_auroc"] >= 0.90, result.best
