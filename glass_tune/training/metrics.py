"""Anomaly-detection metrics: image/pixel AUROC, image F1-max and the standard AUPRO@0.3.

AUPRO follows the MVTec AD reference definition (8-connected ground-truth regions, no dilation of
the prediction, every distinct score a threshold), not the official GLASS variant that dilates the
binary map and samples 200 thresholds (docs/algorithm.md §8): numbers stay comparable with other papers.

Undefined values are ``nan`` rather than errors, because a tuning run must keep going when a test
split happens to hold one class only: AUROC needs both classes, AUPRO needs anomalous and normal
pixels, F1 needs at least one anomalous image.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import ndimage
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

__all__ = [
    "aupro",
    "calibrate_thresholds",
    "decision_metrics",
    "evaluate",
    "image_auroc",
    "image_f1_max",
    "pixel_auroc",
    "roc_points",
]

# Without defects in validation a threshold can only bound the false alarms on normal data.
IMAGE_NORMAL_QUANTILE = 0.99
PIXEL_NORMAL_QUANTILE = 0.999

# 8-connectivity inside each image, none across the image axis (MVTec reference labelling).
_REGION_STRUCTURE = np.zeros((3, 3, 3), dtype=bool)
_REGION_STRUCTURE[1] = True


def _binary_and_scores(labels: ArrayLike, scores: ArrayLike, *, what: str) -> tuple[NDArray[np.bool_], NDArray]:
    """Flatten to matching 1-D arrays; labels must be 0/1 and scores finite (garbage in is an error)."""
    y = np.asarray(labels)
    s = np.asarray(scores)
    if y.shape != s.shape:
        raise ValueError(f"{what}: ground truth shape {y.shape} != score shape {s.shape}")
    if y.dtype != np.bool_:
        if not np.isin(y, (0, 1)).all():
            raise ValueError(f"{what}: ground truth must be binary (0/1 or bool)")
        y = y.astype(bool)
    if not np.issubdtype(s.dtype, np.number) or not np.isfinite(s).all():
        raise ValueError(f"{what}: scores must be finite numbers")
    return y.reshape(-1), s.reshape(-1)


def _auroc(y: NDArray[np.bool_], s: NDArray) -> float:
    if y.all() or not y.any():
        return float("nan")
    return float(roc_auc_score(y, s))


def image_auroc(labels: ArrayLike, scores: ArrayLike) -> float:
    """Image-level ROC AUC of ``scores`` (higher = more anomalous) against 0/1 ``labels``; nan for one class."""
    return _auroc(*_binary_and_scores(labels, scores, what="image_auroc"))


def pixel_auroc(masks: ArrayLike, maps: ArrayLike) -> float:
    """ROC AUC over every pixel of all ``masks`` against ``maps`` (same shape); nan for one class."""
    return _auroc(*_binary_and_scores(masks, maps, what="pixel_auroc"))


def image_f1_max(labels: ArrayLike, scores: ArrayLike) -> float:
    """Best F1 over all thresholds (the oracle-threshold F1 that anomalib reports); nan without anomalies."""
    y, s = _binary_and_scores(labels, scores, what="image_f1_max")
    if not y.any():
        return float("nan")
    precision, recall, _ = precision_recall_curve(y, s)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    return float(f1.max())


def f1_optimal_threshold(labels: ArrayLike, scores: ArrayLike, *, what: str) -> float:
    """A threshold t maximising F1 of ``score >= t``; nan without anomalies.

    Halfway between the F1-optimal validation score and the next lower one, not the score itself:
    a threshold equal to an image's score would let float rounding (torch vs ONNX) flip its decision.
    """
    y, s = _binary_and_scores(labels, scores, what=what)
    if not y.any():
        return float("nan")
    precision, recall, thresholds = precision_recall_curve(y, s)  # thresholds: distinct scores, increasing
    precision, recall = precision[:-1], recall[:-1]  # the last point has no threshold
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(denom), where=denom > 0)
    i = int(np.argmax(f1))
    lower = thresholds[i - 1] if i > 0 else s[s < thresholds[i]].max(initial=thresholds[i])
    return float((thresholds[i] + lower) / 2)


def calibrate_thresholds(*, labels: ArrayLike, scores: ArrayLike, masks: ArrayLike, maps: ArrayLike) -> dict[str, Any]:
    """Image-score and pixel thresholds chosen on validation, with the rule each one followed.

    F1-optimal where validation holds defects (images labelled 1 / defect pixels); otherwise a
    quantile of the normal scores (:data:`IMAGE_NORMAL_QUANTILE`, :data:`PIXEL_NORMAL_QUANTILE`),
    i.e. about 1 % of normal images / 0.1 % of normal pixels flagged.
    """
    out: dict[str, Any] = {}
    for level, y, s, q in (
        ("image", labels, scores, IMAGE_NORMAL_QUANTILE),
        ("pixel", masks, maps, PIXEL_NORMAL_QUANTILE),
    ):
        y_flat, s_flat = _binary_and_scores(y, s, what=f"{level} threshold")
        if y_flat.any() and not y_flat.all():
            out[f"{level}_threshold"] = f1_optimal_threshold(y_flat, s_flat, what=f"{level} threshold")
            out[f"{level}_rule"] = f"F1-optimal on validation ({int(y_flat.sum())} of {y_flat.size} positive)"
        else:
            out[f"{level}_threshold"] = float(np.quantile(s_flat[~y_flat], q))
            out[f"{level}_rule"] = f"quantile {q} of the {y_flat.size} normal validation scores (no defects to fit F1)"
    return out


def decision_metrics(labels: ArrayLike, scores: ArrayLike, *, threshold: float) -> dict[str, float]:
    """Precision, recall, F1 and false-positive rate of ``score >= threshold``; nan where undefined
    (no positive predicted, no positive, no negative). The rate is what a good-only test set can tell."""
    y, s = _binary_and_scores(labels, scores, what="decision_metrics")
    predicted = s >= threshold
    tp, n_pos, n_pred = np.count_nonzero(predicted & y), np.count_nonzero(y), np.count_nonzero(predicted)
    nan = float("nan")
    return {
        "precision": tp / n_pred if n_pred else nan,
        "recall": tp / n_pos if n_pos else nan,
        "f1_at_threshold": 2 * tp / (n_pred + n_pos) if n_pos else nan,
        "false_positive_rate": (n_pred - tp) / (y.size - n_pos) if y.size > n_pos else nan,
    }


def aupro(masks: ArrayLike, maps: ArrayLike, *, fpr_limit: float = 0.3) -> float:
    """Area under the per-region-overlap curve for FPR in [0, ``fpr_limit``], divided by ``fpr_limit``.

    Each 8-connected ground-truth region weighs the same, whatever its size, so small defects count
    as much as large ones (see :func:`pro_points`). The curve is interpolated linearly at
    ``fpr_limit``. nan when there is no anomalous or no normal pixel.
    """
    if not 0.0 < fpr_limit <= 1.0:
        raise ValueError(f"aupro: fpr_limit must be in (0, 1], got {fpr_limit}")
    fpr, pro = pro_points(masks, maps)
    if len(fpr) == 0:
        return float("nan")
    return _area_up_to(fpr, pro, fpr_limit) / fpr_limit


def pro_points(masks: ArrayLike, maps: ArrayLike) -> tuple[NDArray, NDArray]:
    """The whole per-region-overlap curve ``(fpr, pro)`` from (0, 0); empty when one class is missing.

    ``masks`` and ``maps`` are (N, H, W). Exact at every distinct score from a single sort: lowering
    the threshold past a pixel adds ``1 / n_normal`` to the FPR if the pixel is normal, or
    ``1 / (n_regions * region_size)`` to the mean overlap if it lies in a region, so both curves are
    cumulative sums along the descending score order. Pixels with equal scores enter together (one
    curve point).
    """
    gt, scores = _binary_and_scores(masks, maps, what="aupro")
    shape = np.shape(masks)
    if len(shape) != 3:
        raise ValueError(f"aupro: expected (N, H, W) arrays, got shape {shape}")
    n_normal = gt.size - np.count_nonzero(gt)
    if n_normal == 0 or n_normal == gt.size:
        return np.empty(0), np.empty(0)

    regions, n_regions = ndimage.label(gt.reshape(shape), structure=_REGION_STRUCTURE)
    regions = regions.reshape(-1)
    region_weight = np.zeros(n_regions + 1)
    region_weight[1:] = 1.0 / (n_regions * np.bincount(regions)[1:])

    order = np.argsort(scores, kind="stable")[::-1]
    regions = regions[order]
    sorted_scores = scores[order]
    fpr = np.cumsum(regions == 0) / n_normal
    pro = np.cumsum(region_weight[regions])
    last_of_tie = np.append(sorted_scores[1:] != sorted_scores[:-1], True)
    fpr = np.concatenate(([0.0], fpr[last_of_tie]))
    pro = np.concatenate(([0.0], np.clip(pro[last_of_tie], 0.0, 1.0)))
    return fpr, pro


def _area_up_to(x: NDArray, y: NDArray, x_max: float) -> float:
    """Trapezoid area under the polyline (x, y), x non-decreasing from 0, cut at ``x_max``."""
    inside = int(np.searchsorted(x, x_max, side="right"))  # points with x <= x_max
    xs, ys = x[:inside], y[:inside]
    if inside < len(x) and xs[-1] < x_max:
        x0, x1, y0, y1 = x[inside - 1], x[inside], y[inside - 1], y[inside]
        xs = np.append(xs, x_max)
        ys = np.append(ys, y0 + (y1 - y0) * (x_max - x0) / (x1 - x0))
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1])) / 2.0)


def evaluate(*, labels: ArrayLike, scores: ArrayLike, masks: ArrayLike, maps: ArrayLike) -> dict[str, float]:
    """All metrics of one evaluation: image labels/scores (N,) and pixel masks/maps (N, H, W)."""
    return {
        "image_auroc": image_auroc(labels, scores),
        "pixel_auroc": pixel_auroc(masks, maps),
        "aupro": aupro(masks, maps),
        "image_f1": image_f1_max(labels, scores),
    }


def roc_points(labels: ArrayLike, scores: ArrayLike, *, max_points: int = 2000) -> tuple[NDArray, NDArray]:
    """A ROC curve (fpr, tpr) with at most ``max_points`` points, for plotting.

    Works at image or pixel level (inputs of any matching shape are flattened); a full pixel-level
    curve has millions of points, far more than a TensorBoard plot needs, so evenly spaced points of
    the exact curve are kept, always including both ends. Empty arrays when only one class is present.
    """
    if max_points < 2:
        raise ValueError(f"roc_points: max_points must be >= 2, got {max_points}")
    y, s = _binary_and_scores(labels, scores, what="roc_points")
    if y.all() or not y.any():
        return np.empty(0), np.empty(0)
    fpr, tpr, _ = roc_curve(y, s, drop_intermediate=True)
    if len(fpr) > max_points:
        keep = np.unique(np.linspace(0, len(fpr) - 1, max_points).round().astype(np.int64))
        fpr, tpr = fpr[keep], tpr[keep]
    return fpr, tpr
