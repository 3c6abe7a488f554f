"""Predict's small rules: which thresholds decide, where each output goes, what a heat map and mask show."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from glass_tune.inference.heatmaps import defect_mask, heatmap_names, jet, mask_name, overlay
from glass_tune.inference.model_source import locate_checkpoint
from glass_tune.inference.predict import Thresholds, decision_thresholds
from glass_tune.util.errors import UserError

STORED = {"image_threshold": 0.6, "pixel_threshold": 0.7}


def test_overrides_win_and_a_missing_pixel_threshold_follows_the_image_one():
    assert decision_thresholds(STORED, image=None, pixel=None, where="run") == Thresholds(0.6, 0.7, "stored")
    assert decision_thresholds(STORED, image=0.5, pixel=None, where="run") == Thresholds(0.5, 0.5, "override")
    assert decision_thresholds(STORED, image=None, pixel=0.2, where="run") == Thresholds(0.6, 0.2, "override")
    assert decision_thresholds(None, image=0.4, pixel=None, where="run") == Thresholds(0.4, 0.4, "override")
    with pytest.raises(UserError, match=r"^old\.pt: no calibrated threshold stored .*pass --threshold$"):
        decision_thresholds(None, image=None, pixel=None, where="old.pt")


def test_every_input_gets_its_own_outputs(tmp_path):
    images = [
        tmp_path / "good" / "000.png",
        tmp_path / "crack" / "000.png",
        tmp_path / "crack" / "001.png",
        tmp_path / "crack" / "001.jpg",
    ]
    names = heatmap_names(images)
    assert [str(n) for n in names] == [
        "good/000_heatmap.png",
        "crack/000_heatmap.png",
        "crack/001.png_heatmap.png",
        "crack/001.jpg_heatmap.png",
    ]
    assert len(set(names)) == len(images)
    assert mask_name(names[0]).as_posix() == "good/000_mask.png"
    assert heatmap_names([]) == []


def test_heat_maps_are_absolute_and_masks_binary():
    assert jet(np.array([0.0])).tolist() == [[0, 0, 127]] and jet(np.array([1.0])).tolist() == [[127, 0, 0]]
    assert jet(np.array([2.0])).tolist() == jet(np.array([1.0])).tolist()  # clipped, not rescaled
    scores = np.array([[0.1, 0.7], [0.69, 0.9]], dtype=np.float32)
    assert np.asarray(defect_mask(scores, threshold=0.7)).tolist() == [[0, 255], [0, 255]]
    image = overlay(torch.zeros(3, 2, 2), scores, alpha=1.0)
    assert image.size == (2, 2) and np.asarray(image)[0, 0].tolist() == jet(scores)[0, 0].tolist()


def test_a_checkpoint_argument_names_a_file_a_run_or_a_trial(tmp_path):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "best.pt").write_bytes(b"x")
    assert str(locate_checkpoint(run)) == str(run / "checkpoints" / "best.pt")
    trial = tmp_path / "weave" / "trial_a"
    for kept in ("checkpoint_000001", "checkpoint_000003"):
        (trial / kept).mkdir(parents=True)
        (trial / kept / "checkpoint.pt").write_bytes(b"x")
    (trial / "result.json").write_text("")
    assert str(locate_checkpoint(trial)) == str(trial / "checkpoint_000003" / "checkpoint.pt")  # the newest kept
    assert str(locate_checkpoint(tmp_path / "missing.pt")) == str(tmp_path / "missing.pt")  # read_checkpoint names it
    (tmp_path / "empty_trial").mkdir()
    (tmp_path / "empty_trial" / "result.json").write_text("")
    with pytest.raises(UserError, match="empty_trial: this trial kept no checkpoint"):
        locate_checkpoint(tmp_path / "empty_trial")
