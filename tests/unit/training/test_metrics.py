"""Metrics against hand-computed cases and a slow, independently written AUPRO reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage
from skimage import measure

from glass_tune.training.metrics import (
    IMAGE_NORMAL_QUANTILE,
    aupro,
    calibrate_thresholds,
    decision_metrics,
    evaluate,
    f1_optimal_threshold,
    image_auroc,
    image_f1_max,
    pixel_auroc,
    roc_points,
)


def slow_aupro(masks: np.ndarray, maps: np.ndarray, fpr_limit: float = 0.3) -> float:
    """Threshold-by-threshold PRO curve (every distinct score), labelled with skimage instead of scipy."""
    regions = [measure.label(m, connectivity=2) for m in masks.astype(bool)]
    normal = ~masks.astype(bool)
    points = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        predicted = maps >= t
        overlaps = [predicted[i][lab == k].mean() for i, lab in enumerate(regions) for k in range(1, lab.max() + 1)]
        points.append(((predicted & normal).sum() / normal.sum(), float(np.mean(overlaps))))
    area = 0.0
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        if x0 >= fpr_limit:
            break
        if x1 > fpr_limit:
            y1 = y0 + (y1 - y0) * (fpr_limit - x0) / (x1 - x0)
            x1 = fpr_limit
        area += (x1 - x0) * (y0 + y1) / 2
    return area / fpr_limit


def random_case(seed: int, n: int = 4, size: int = 24, levels: int | None = 40) -> tuple[np.ndarray, np.ndarray]:
    """Several blob regions per image; maps correlated with them and quantised so that ties occur."""
    rng = np.random.default_rng(seed)
    blobs = ndimage.gaussian_filter(rng.random((n, size, size)), sigma=(0, 1.5, 1.5))
    masks = blobs > np.quantile(blobs, 0.85)
    maps = rng.random((n, size, size)) + 0.7 * masks
    if levels is not None:
        maps = np.round(maps * levels) / levels
    return masks.astype(np.uint8), maps


# --- AUROC / F1 ------------------------------------------------------------------------------------


def test_image_auroc_hand_computed():
    # positives 0.8, 0.4; negatives 0.1, 0.5: pairs won (0.8>0.1, 0.8>0.5, 0.4>0.1) = 3 of 4
    assert image_auroc([1, 1, 0, 0], [0.8, 0.4, 0.1, 0.5]) == pytest.approx(0.75)
    # the 0.3/0.3 tie counts one half: (3 + 0.5) / 4
    assert image_auroc([1, 1, 0, 0], [0.9, 0.3, 0.3, 0.1]) == pytest.approx(0.875)
    assert image_auroc([True, False], [0.2, 0.7]) == 0.0


def test_pixel_auroc_flattens_all_images():
    masks = np.array([[[0, 1], [0, 0]], [[0, 0], [1, 0]]])
    maps = np.array([[[0.1, 0.9], [0.2, 0.3]], [[0.4, 0.5], [0.35, 0.0]]])
    # positives 0.9 and 0.35 against 6 negatives: 0.9 beats all 6, 0.35 beats 0.0, 0.1, 0.2 and 0.3
    assert pixel_auroc(masks, maps) == pytest.approx((6 + 4) / 12)


def test_auroc_nan_for_one_class():
    assert math.isnan(image_auroc([0, 0, 0], [0.1, 0.2, 0.3]))
    assert math.isnan(pixel_auroc(np.ones((1, 2, 2)), np.zeros((1, 2, 2))))


def test_image_f1_max_hand_computed():
    # threshold 0.6 -> predict {0.9, 0.8, 0.6}: tp 2, fp 1, fn 0 -> F1 = 4/5; no threshold does better
    assert image_f1_max([1, 1, 0, 0], [0.9, 0.6, 0.8, 0.1]) == pytest.approx(0.8)
    assert image_f1_max([1, 0], [0.9, 0.1]) == pytest.approx(1.0)
    assert math.isnan(image_f1_max([0, 0], [0.9, 0.1]))


def test_inputs_are_checked():
    with pytest.raises(ValueError, match="shape"):
        image_auroc([0, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="binary"):
        pixel_auroc(np.full((1, 2, 2), 0.5), np.zeros((1, 2, 2)))
    with pytest.raises(ValueError, match="finite"):
        image_auroc([0, 1], [0.1, float("nan")])
    with pytest.raises(ValueError, match=r"\(N, H, W\)"):
        aupro(np.array([[0, 1]]), np.array([[0.0, 1.0]]))


# --- AUPRO -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("levels", [None, 40])
def test_aupro_matches_slow_reference(seed, levels):
    masks, maps = random_case(seed, levels=levels)
    assert measure.label(masks[0], connectivity=2).max() >= 2  # several regions per image
    assert aupro(masks, maps) == pytest.approx(slow_aupro(masks, maps), abs=1e-9)


def test_aupro_other_fpr_limit_matches_reference():
    masks, maps = random_case(7)
    assert aupro(masks, maps, fpr_limit=0.05) == pytest.approx(slow_aupro(masks, maps, 0.05), abs=1e-9)
    assert aupro(masks, maps, fpr_limit=1.0) == pytest.approx(slow_aupro(masks, maps, 1.0), abs=1e-9)


def test_aupro_perfect_prediction_is_one():
    masks, _ = random_case(3)
    assert aupro(masks, masks.astype(float)) == pytest.approx(1.0)


def test_aupro_uses_8_connectivity_and_region_weights():
    # pixels (1,1), (2,2), (2,3): one 8-connected region of 3 (4-connectivity would give two).
    masks = np.zeros((1, 5, 5), dtype=np.uint8)
    masks[0, 1, 1] = masks[0, 2, 2] = masks[0, 2, 3] = 1
    maps = np.zeros((1, 5, 5))
    maps[0, 1, 1] = 1.0
    # curve (0,0) -> (0, 1/3) -> (1, 1); area up to 0.3 over 0.3 = p + (1 - p) * 0.15 with p = 1/3
    assert aupro(masks, maps) == pytest.approx(1 / 3 + (2 / 3) * 0.15)


def test_aupro_constant_map_is_the_diagonal():
    masks, _ = random_case(4)
    # a single threshold: the curve is the straight line (0,0) -> (1,1), area 0.045 up to 0.3
    assert aupro(masks, np.full(masks.shape, 0.5)) == pytest.approx(0.15)


def test_aupro_nan_without_anomalous_or_normal_pixels():
    maps = np.random.default_rng(0).random((2, 8, 8))
    assert math.isnan(aupro(np.zeros((2, 8, 8)), maps))
    assert math.isnan(aupro(np.ones((2, 8, 8)), maps))


def test_aupro_regions_do_not_join_across_images():
    # the same pixel in two images is two regions: detecting one of them is a PRO of 1/2
    masks = np.zeros((2, 4, 4), dtype=np.uint8)
    masks[:, 1, 1] = 1
    maps = np.zeros((2, 4, 4))
    maps[0, 1, 1] = 1.0
    assert aupro(masks, maps) == pytest.approx(0.5 + 0.5 * 0.15)


# --- evaluate / roc_points -------------------------------------------------------------------------


def test_evaluate_keys_and_values():
    masks, maps = random_case(5)
    labels = masks.any(axis=(1, 2)).astype(int)
    labels[0] = 0
    masks[0] = 0
    scores = maps.max(axis=(1, 2))
    result = evaluate(labels=labels, scores=scores, masks=masks, maps=maps)
    assert set(result) == {"image_auroc", "pixel_auroc", "aupro", "image_f1"}
    assert result["aupro"] == pytest.approx(slow_aupro(masks, maps), abs=1e-9)
    assert result["pixel_auroc"] == pytest.approx(pixel_auroc(masks, maps))


def test_evaluate_pixel_metrics_nan_without_anomalous_pixels():
    maps = np.random.default_rng(1).random((3, 8, 8))
    result = evaluate(labels=[0, 1, 1], scores=[0.1, 0.5, 0.9], masks=np.zeros((3, 8, 8)), maps=maps)
    assert math.isnan(result["pixel_auroc"]) and math.isnan(result["aupro"])
    assert result["image_auroc"] == 1.0 and result["image_f1"] == 1.0


def test_roc_points_are_subsampled_and_keep_the_ends():
    rng = np.random.default_rng(2)
    masks = rng.random((4, 64, 64)) < 0.1
    maps = rng.random((4, 64, 64)) + masks
    fpr, tpr = roc_points(masks, maps, max_points=50)
    assert 2 <= len(fpr) <= 50 and len(fpr) == len(tpr)
    assert (fpr[0], tpr[0]) == (0.0, 0.0) and (fpr[-1], tpr[-1]) == (1.0, 1.0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    empty_fpr, _ = roc_points([0, 0], [0.1, 0.2])
    assert empty_fpr.size == 0


def test_f1_threshold_lies_between_scores_and_separates_them() -> None:
    labels = np.array([0, 0, 0, 1, 1])
    scores = np.array([0.1, 0.2, 0.3, 0.6, 0.8])
    t = f1_optimal_threshold(labels, scores, what="t")
    assert 0.3 < t < 0.6 and t == pytest.approx(0.45)
    assert decision_metrics(labels, scores, threshold=t) == {
        "precision": 1.0,
        "recall": 1.0,
        "f1_at_threshold": 1.0,
        "false_positive_rate": 0.0,
    }
    d = decision_metrics(labels, scores, threshold=0.25)  # one false alarm
    assert d["precision"] == pytest.approx(2 / 3) and d["recall"] == 1.0 and d["false_positive_rate"] == pytest.approx(1 / 3)


def test_calibration_rules() -> None:
    rng = np.random.default_rng(0)
    masks = np.zeros((4, 8, 8), dtype=np.uint8)
    masks[2:, :2, :2] = 1
    maps = rng.random((4, 8, 8)) * 0.5 + masks * 0.5
    with_defects = calibrate_thresholds(
        labels=np.array([0, 0, 1, 1]), scores=np.array([0.1, 0.2, 0.7, 0.9]), masks=masks, maps=maps
    )
    assert with_defects["image_threshold"] == pytest.approx(0.45) and with_defects["image_rule"].startswith("F1-optimal")
    assert with_defects["pixel_rule"].startswith("F1-optimal") and 0.4 < with_defects["pixel_threshold"] < 0.6
    scores = rng.random(50)
    normal = calibrate_thresholds(labels=np.zeros(50), scores=scores, masks=np.zeros((50, 2, 2)), maps=rng.random((50, 2, 2)))
    assert normal["image_threshold"] == pytest.approx(np.quantile(scores, IMAGE_NORMAL_QUANTILE))
    assert "quantile" in normal["image_rule"] and "quantile" in normal["pixel_rule"]
