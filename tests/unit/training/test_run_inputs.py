"""The official protocol by default: svd per category (table, else the judge), ground-truth masks
binarised as the official code does per layout, and one-line warnings where a run departs from it."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from glass_tune.config.schema import from_mapping
from glass_tune.data import preprocess_mask
from glass_tune.training.run_inputs import prepare_data, resolve_run_config
from glass_tune.util import notices
from tests.helpers import TINY


@pytest.fixture(scope="module")
def official_names(synthetic_root: Path, tmp_path_factory) -> Path:
    """A tiny MVTec-layout copy where the synthetic washer is called ``bottle`` (an official hypersphere class)."""
    root = tmp_path_factory.mktemp("mvtec-names")
    shutil.copytree(synthetic_root / "washer", root / "bottle")
    shutil.copytree(synthetic_root / "weave", root / "weave")
    return root


@pytest.fixture
def fresh_notices(monkeypatch, caplog):
    monkeypatch.setattr(notices, "_seen", set())
    caplog.set_level(logging.INFO, logger="glass_tune")
    return caplog


def _config(root: Path, category: str, **extra):
    return from_mapping({**TINY, "data_root": str(root), "category": category, **extra})


def test_official_class_gets_its_table_svd_and_a_missing_foreground_warning(official_names, fresh_notices):
    config = resolve_run_config(_config(official_names, "bottle"))
    assert (config.svd, config.mask_protocol, config.foreground) == (1, "mvtec", False)
    messages = [r.getMessage() for r in fresh_notices.records]
    assert "[bottle] svd=1 (official per-class table: hypersphere)" in messages
    assert sum("no foreground masks" in m and "[bottle]" in m for m in messages) == 1


def test_unlisted_class_is_judged_and_says_why(official_names, fresh_notices):
    config = resolve_run_config(_config(official_names, "weave"))
    assert config.svd == 0
    (line,) = [r.getMessage() for r in fresh_notices.records if "svd=" in r.getMessage()]
    assert line.startswith("[weave] svd=0 (distribution judge on the mean training image: manifold")
    assert not any("foreground" in r.getMessage() for r in fresh_notices.records)  # not an official class
    resolve_run_config(_config(official_names, "weave"))  # resolved again in the same process: said once
    assert sum("svd=" in r.getMessage() for r in fresh_notices.records) == 1


def test_explicit_svd_and_protocol_are_kept(official_names, fresh_notices):
    config = resolve_run_config(_config(official_names, "bottle", svd=0, mask_protocol="visa", foreground=False))
    assert (config.svd, config.mask_protocol) == (0, "visa")
    assert not fresh_notices.records


def test_procedural_textures_warn_once(official_names, fresh_notices):
    config = resolve_run_config(_config(official_names, "weave", svd=0))
    prepare_data(config, feature_grid=(8, 8))
    prepare_data(config, feature_grid=(8, 8))
    assert sum("procedural" in r.getMessage() for r in fresh_notices.records) == 1
    assert all(r.levelno == logging.WARNING for r in fresh_notices.records if "procedural" in r.getMessage())


def test_mask_protocols_differ_by_the_interpolated_edge():
    mask = np.zeros((40, 40), bool)
    mask[11:21, 11:21] = True  # 10 px square; halved it covers rows 5.5..10.5: a half-covered edge
    counts = {p: int(preprocess_mask(mask, (20, 20), protocol=p).sum()) for p in ("mvtec", "nearest", "visa")}
    assert counts["mvtec"] == 16  # truncation keeps fully covered pixels only: 4 x 4
    assert counts["visa"] == 36  # any coverage: 6 x 6
    assert counts["mvtec"] < counts["nearest"] < counts["visa"]
    mvtec, visa = (preprocess_mask(mask, (20, 20), protocol=p) for p in ("mvtec", "visa"))
    assert torch.all(visa >= mvtec)
    same = preprocess_mask(mask, (40, 40), protocol="mvtec")  # no resize: every protocol is the mask itself
    assert torch.equal(same.bool(), torch.from_numpy(mask))


def test_pixel_metrics_use_the_resolved_protocol(official_names):
    config = resolve_run_config(_config(official_names, "bottle", svd=1, input_shape=[40, 40]))
    data = prepare_data(config, feature_grid=(5, 5))
    nearest = resolve_run_config(_config(official_names, "bottle", svd=1, input_shape=[40, 40], mask_protocol="nearest"))
    other = prepare_data(nearest, feature_grid=(5, 5))
    total = lambda ds: sum(float(ds[i]["mask"].sum()) for i in range(len(ds)))  # noqa: E731
    assert total(data.val) < total(other.val)  # truncation erodes the 64 -> 40 px resized edges
