"""Training losses (docs/algorithm.md §4): BCE for normal and GAS patches, OHEM + focal loss for LAS patches."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

FOCAL_GAMMA = 2.0
FOCAL_SMOOTH = 1e-5
DSC_MARGIN = 0.5  # official ``dsc_margin``: the score that separates "called normal" from "called anomalous"


def bce_to(scores: Tensor, label: float) -> Tensor:
    """Mean BCE of P(anomalous) scores against one constant label (0 = normal, 1 = anomalous)."""
    return F.binary_cross_entropy(scores, torch.full_like(scores, label))


def focal_loss(scores: Tensor, targets: Tensor, *, gamma: float = FOCAL_GAMMA, smooth: float = FOCAL_SMOOTH) -> Tensor:
    """Two-class focal loss on P(anomalous) scores, as the official ``FocalLoss`` (alpha=None).

    The one-hot target is clamped to ``[smooth, 1 - smooth]`` and ``smooth`` is added to p_t, so
    ``p_t = w1*s + w0*(1-s) + smooth`` and the loss is ``-(1 - p_t)^gamma * log(p_t)``, averaged.
    """
    w_anomalous = targets.clamp(smooth, 1 - smooth)
    w_normal = (1 - targets).clamp(smooth, 1 - smooth)
    p_t = w_anomalous * scores + w_normal * (1 - scores) + smooth
    return (-((1 - p_t) ** gamma) * torch.log(p_t)).mean()


def hard_example_mask(scores: Tensor, targets: Tensor, quantile: float) -> Tensor:
    """OHEM: keep patches whose squared error is at least its ``quantile`` (0 keeps all, 0.5 the hardest half)."""
    error = (scores.detach() - targets) ** 2
    return error >= torch.quantile(error, quantile)


def las_loss(scores: Tensor, targets: Tensor, quantile: float) -> Tensor:
    """Focal loss on the OHEM-selected LAS patches (both labels mixed, as the official code)."""
    keep = hard_example_mask(scores, targets, quantile)
    return focal_loss(scores[keep], targets[keep])


def correct_side_fractions(true_scores: Tensor, gaus_scores: Tensor, fake_scores: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Logging accuracies ``(p_true, p_fake)`` as the official code defines them.

    p_true: normal patches plus LAS patches at mask 0 scored below the margin; p_fake: GAS patches
    plus LAS patches at mask 1 scored at or above it.
    """
    anomalous = mask.bool()
    normal_hits = (true_scores < DSC_MARGIN).sum() + (fake_scores[~anomalous] < DSC_MARGIN).sum()
    fake_hits = (gaus_scores >= DSC_MARGIN).sum() + (fake_scores[anomalous] >= DSC_MARGIN).sum()
    n_anomalous = anomalous.sum()
    p_true = normal_hits / (len(true_scores) + len(mask) - n_anomalous)
    p_fake = fake_hits / (len(gaus_scores) + n_anomalous)
    return p_true, p_fake
