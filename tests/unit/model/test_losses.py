"""Loss functions (docs/algorithm.md §4) against values computed by hand."""

from __future__ import annotations

import math

import pytest
import torch

from glass_tune.model import bce_to, correct_side_fractions, focal_loss, hard_example_mask, las_loss


def _focal_by_hand(s: float, y: int, gamma: float = 2.0, smooth: float = 1e-5) -> float:
    w1 = min(max(y, smooth), 1 - smooth)
    w0 = min(max(1 - y, smooth), 1 - smooth)
    p_t = w1 * s + w0 * (1 - s) + smooth
    return -((1 - p_t) ** gamma) * math.log(p_t)


def test_focal_loss_matches_hand_computation() -> None:
    scores = torch.tensor([0.9, 0.2, 0.6, 0.05], dtype=torch.float64)
    targets = torch.tensor([1.0, 0.0, 0.0, 1.0], dtype=torch.float64)
    expected = sum(_focal_by_hand(s, int(y)) for s, y in zip(scores.tolist(), targets.tolist())) / 4
    assert focal_loss(scores, targets).item() == pytest.approx(expected, rel=1e-12)
    # sanity of the form: for a confident correct patch the loss is tiny, for a wrong one large
    assert _focal_by_hand(0.99, 1) < 1e-5 < _focal_by_hand(0.01, 1)


def test_ohem_keeps_errors_at_or_above_the_quantile() -> None:
    scores = torch.tensor([0.1, 0.4, 0.8, 0.3])
    targets = torch.tensor([0.0, 1.0, 1.0, 0.0])
    # squared errors [0.01, 0.36, 0.04, 0.09]; linear-interpolated median of the sorted errors = 0.065
    assert hard_example_mask(scores, targets, 0.5).tolist() == [False, True, False, True]
    assert hard_example_mask(scores, targets, 0.0).all()
    assert hard_example_mask(scores, targets, 1.0).tolist() == [False, True, False, False]


def test_las_loss_is_focal_on_the_hard_half() -> None:
    scores = torch.tensor([0.1, 0.4, 0.8, 0.3], dtype=torch.float64)
    targets = torch.tensor([0.0, 1.0, 1.0, 0.0], dtype=torch.float64)
    expected = (_focal_by_hand(0.4, 1) + _focal_by_hand(0.3, 0)) / 2
    assert las_loss(scores, targets, 0.5).item() == pytest.approx(expected, rel=1e-12)


def test_bce_to_a_constant_label() -> None:
    scores = torch.tensor([0.2, 0.7])
    assert bce_to(scores, 0.0).item() == pytest.approx(-(math.log(0.8) + math.log(0.3)) / 2, rel=1e-6)
    assert bce_to(scores, 1.0).item() == pytest.approx(-(math.log(0.2) + math.log(0.7)) / 2, rel=1e-6)


def test_correct_side_fractions_follow_the_official_definition() -> None:
    true_scores = torch.tensor([0.1, 0.6, 0.2])  # 2 of 3 below the margin
    gaus_scores = torch.tensor([0.5, 0.4, 0.9])  # 2 of 3 at or above
    fake_scores = torch.tensor([0.3, 0.7, 0.8, 0.2])
    mask = torch.tensor([0.0, 0.0, 1.0, 1.0])  # normal LAS: 1 of 2 below; anomalous LAS: 1 of 2 above
    p_true, p_fake = correct_side_fractions(true_scores, gaus_scores, fake_scores, mask)
    assert p_true.item() == pytest.approx(3 / 5)
    assert p_fake.item() == pytest.approx(3 / 5)
