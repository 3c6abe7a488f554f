"""Shared fixtures: a tiny CPU GLASS profile and the built-in synthetic data, generated once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from glass_tune.config.schema import GlassConfig, from_mapping
from glass_tune.data import generate_synthetic
from tests.helpers import TINY
from tests.helpers.processes import write_search_inputs

torch.set_num_threads(1)
os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in synthetic dataset at 64 px (all categories), shared by every test."""
    return generate_synthetic(tmp_path_factory.mktemp("synthetic"), seed=0, size=64)


@pytest.fixture
def tiny_config(synthetic_root: Path) -> GlassConfig:
    return from_mapping({**TINY, "data_root": str(synthetic_root), "category": "weave"})


@pytest.fixture
def inputs(tmp_path: Path, synthetic_root: Path) -> tuple[Path, Path, Path]:
    """(config, space, data root) for searches run as processes (``process_helpers.tune_cmd``)."""
    return (*write_search_inputs(tmp_path), synthetic_root)
