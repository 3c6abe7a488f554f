"""The report's figures, drawn with matplotlib (Agg canvas, no pyplot, no display) as PNG bytes.

Each function takes plain data (trial records, an evaluation) so it can be tested and reused
without an experiment on disk.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from glass_tune.experiment.outcomes import Outcome
from glass_tune.experiment.results import TrialRecord
from glass_tune.training.metrics import pro_points, roc_points

DPI = 100
ERRORED_COLOR = "red"  # the one colour with a meaning (README: errored trials are red); trials never get it
STATE_STYLE = {  # how a trial's curve looks, by how it ended
    Outcome.COMPLETED: {"linestyle": "-", "marker": "o", "color": "tab:blue"},
    Outcome.STOPPED: {"linestyle": "--", "marker": "s", "color": "tab:gray"},
    Outcome.ERRORED: {"linestyle": ":", "marker": "X", "color": ERRORED_COLOR},
}
# per-trial line colours: tab10 without its red (index 3), which would read as "errored"
TRIAL_COLORS = [colormaps.get_cmap("tab10")(i) for i in range(10) if i != 3]
AUPRO_FPR_LIMIT = 0.3


def new_figure(rows: int = 1, cols: int = 1, *, figsize: tuple[float, float], **kwargs: Any) -> tuple[Figure, Any]:
    """A figure on its own Agg canvas: no pyplot state, so nothing leaks between plots or threads."""
    fig = Figure(figsize=figsize)
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, **kwargs)


def to_png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight")
    return buf.getvalue()


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not math.isnan(value)


def best_so_far(trials: Sequence[TrialRecord], *, metric: str, mode: str) -> bytes:
    """Each trial's final ``metric`` in creation order, and the running best."""
    fig, ax = new_figure(figsize=(7, 3.5))
    xs = np.arange(1, len(trials) + 1)
    values = np.array([float(t.last_result[metric]) if _finite(t.last_result.get(metric)) else np.nan for t in trials])
    for state, style in STATE_STYLE.items():
        pick = np.array([t.outcome == state for t in trials]) & ~np.isnan(values)
        if pick.any():
            ax.scatter(xs[pick], values[pick], marker=style["marker"], color=style["color"], label=f"trial ({state})")
    running = (np.fmax.accumulate if mode == "max" else np.fmin.accumulate)(
        np.where(np.isnan(values), -np.inf if mode == "max" else np.inf, values)
    )
    ax.step(xs, np.where(np.isfinite(running), running, np.nan), where="post", color="black", label="best so far")
    ax.set_xlabel("trial (creation order)")
    ax.set_ylabel(metric)
    ax.set_xticks(xs)
    ax.set_title(f"{metric} per trial and best so far ({mode})")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(alpha=0.3)
    return to_png(fig)


def auroc_curves(trials: Sequence[TrialRecord]) -> bytes:
    """Validation image and pixel AUROC over epochs, one line per trial; early-stopped trials dashed
    with a square at their last epoch, errored ones red and dotted with an X."""
    fig, axes = new_figure(1, 2, figsize=(11, 3.8), sharex=True)
    for i, trial in enumerate(trials):
        style = STATE_STYLE.get(trial.outcome, STATE_STYLE[Outcome.COMPLETED])
        rows = [r for r in trial.history if "epoch" in r]
        epochs = [r["epoch"] for r in rows]
        for ax, key in zip(axes, ("image_auroc", "pixel_auroc"), strict=True):
            ys = [r.get(key, np.nan) if _finite(r.get(key)) else np.nan for r in rows]
            color = ERRORED_COLOR if trial.outcome == Outcome.ERRORED else TRIAL_COLORS[i % len(TRIAL_COLORS)]
            ax.plot(epochs, ys, linestyle=style["linestyle"], color=color, label=trial.trial_id)
            if epochs:
                ax.plot(epochs[-1:], ys[-1:], marker=style["marker"], color=color, markersize=8)
    for ax, title in zip(axes, ("validation image AUROC", "validation pixel AUROC"), strict=True):
        ax.set_title(title)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    handles = [
        Line2D([], [], color="gray", linestyle=s["linestyle"], marker=s["marker"], label=state)
        for state, s in STATE_STYLE.items()
    ]
    axes[0].legend(handles=handles, fontsize=8, loc="lower right", title="trial state")
    axes[1].legend(fontsize=7, loc="lower right", ncol=2, title="trial")
    return to_png(fig)


def live_params(trials: Sequence[TrialRecord], params: Sequence[str]) -> list[str]:
    """The searched parameters these trials actually have: a category's resolved space drops the
    dead ones (e.g. radius_quantile in a manifold, svd=0, category)."""
    return [p for p in params if any(t.params.get(p) is not None for t in trials)]


def parallel_coordinates(trials: Sequence[TrialRecord], *, params: Sequence[str], metric: str) -> bytes:
    """One polyline per scored trial across the live searched parameters (each axis scaled to its
    range, log-scaled when the values span more than a decade). Completed trials are coloured by
    ``metric`` on a scale over the completed trials only (a trial stopped at its first rung would
    stretch it); stopped trials are grey and dashed, as in the other figures."""
    scored = [t for t in trials if _finite(t.last_result.get(metric)) and t.outcome != Outcome.ERRORED]
    params = live_params(scored, params)
    axes_names = [*params, metric]
    fig, ax = new_figure(figsize=(max(6, 2.2 * len(axes_names)), 4))
    if not scored or not params:
        ax.text(0.5, 0.5, "no scored trials" if not scored else "no searched parameters", ha="center", va="center")
        ax.set_axis_off()
        return to_png(fig)
    columns, labels = [], []
    for name in axes_names:
        values = [t.last_result[metric] if name == metric else t.params.get(name) for t in scored]
        scaled, ticks = _scale_axis(values)
        columns.append(scaled)
        labels.append(ticks)
    data = np.array(columns).T
    scores = np.array([float(t.last_result[metric]) for t in scored])
    done = np.array([t.outcome == Outcome.COMPLETED for t in scored])
    ref = scores[done] if done.any() else scores
    norm = Normalize(ref.min(), ref.max() if ref.max() > ref.min() else ref.min() + 1e-9)
    cmap = colormaps.get_cmap("viridis")
    xs = np.arange(len(axes_names))
    for row, score, complete in zip(data, scores, done, strict=True):
        if complete:
            ax.plot(xs, row, color=cmap(norm(score)), linewidth=2, alpha=0.85)
        else:
            ax.plot(xs, row, color=STATE_STYLE[Outcome.STOPPED]["color"], linestyle="--", linewidth=1.2, alpha=0.7)
    for x, (low, high) in zip(xs, labels, strict=True):
        ax.axvline(x, color="black", linewidth=0.8)
        ax.text(x, -0.06, low, ha="center", va="top", fontsize=8)
        ax.text(x, 1.06, high, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(xs, [name.replace("_", "_\n", 1) if len(name) > 14 else name for name in axes_names])  # no overlaps
    ax.xaxis.set_ticks_position("none")
    ax.tick_params(axis="x", pad=18, labelsize=8)
    ax.set_yticks([])
    ax.set_ylim(-0.12, 1.12)
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=f"{metric} (completed trials)")
    stopped = int((~done).sum())
    extra = f"; {stopped} stopped early, grey dashed" if stopped else ""
    ax.set_title(f"searched parameters of {len(scored)} scored trials, coloured by {metric}{extra}", fontsize=10)
    return to_png(fig)


def _scale_axis(values: Sequence[Any]) -> tuple[list[float], tuple[str, str]]:
    """Values -> positions in [0, 1] and the (low, high) tick labels; categories spread evenly."""
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        arr = np.array(values, dtype=float)
        low, high = float(arr.min()), float(arr.max())
        log = low > 0 and high / low > 10
        a, b, x = (np.log10(low), np.log10(high), np.log10(arr)) if log else (low, high, arr)
        pos = (x - a) / (b - a) if b > a else np.full_like(arr, 0.5)
        return pos.tolist(), (f"{low:.3g}", f"{high:.3g}")
    cats = sorted({str(v) for v in values})
    pos = [cats.index(str(v)) / max(len(cats) - 1, 1) for v in values]
    return pos, (cats[0], cats[-1])


def importance_bars(importances: dict[str, float], *, method: str, n_trials: int) -> bytes:
    fig, ax = new_figure(figsize=(6, 0.5 + 0.5 * len(importances)))
    names = list(importances)[::-1]
    ax.barh(names, [importances[n] for n in names], color="tab:blue")
    ax.set_xlabel("importance (share of the objective's variance)")
    ax.set_xlim(0, 1)
    ax.set_title(f"parameter importance ({method}, {n_trials} completed trials)")
    ax.grid(axis="x", alpha=0.3)
    return to_png(fig)


def overlays(
    images: Sequence[np.ndarray], maps: Sequence[np.ndarray], masks: Sequence[np.ndarray], titles: Sequence[str]
) -> bytes:
    """Held-out images with the anomaly map (jet, absolute 0..1 scale) and the ground-truth contour."""
    n = len(images)
    cols = min(4, n)
    rows = math.ceil(n / cols)
    fig, axes = new_figure(rows, cols, figsize=(3 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, image, amap, mask, title in zip(axes.ravel(), images, maps, masks, titles, strict=False):
        ax.imshow(image)
        ax.imshow(amap, cmap="jet", vmin=0.0, vmax=1.0, alpha=0.45)
        if mask.any():
            ax.contour(mask, levels=[0.5], colors="white", linewidths=1.5)
        ax.set_title(title, fontsize=9)
    fig.suptitle("held-out images: anomaly map (jet, 0..1) and ground truth (white contour)")
    return to_png(fig)


def roc_and_pro(labels: np.ndarray, scores: np.ndarray, masks: np.ndarray, maps: np.ndarray) -> bytes:
    """Image ROC, pixel ROC and the PRO curve (AUPRO integrates it up to FPR 0.3)."""
    fig, axes = new_figure(1, 3, figsize=(13, 4))
    curves = [
        ("image ROC", roc_points(labels, scores), "TPR"),
        ("pixel ROC", roc_points(masks, maps), "TPR"),
        ("per-region overlap (PRO)", pro_points(masks, maps), "PRO"),
    ]
    for ax, (title, (x, y), ylabel) in zip(axes, curves, strict=True):
        if len(x):
            ax.plot(x, y)
        else:
            ax.text(0.5, 0.5, "one class only", ha="center", va="center")
        ax.plot([0, 1], [0, 1], color="gray", linestyle=":", linewidth=0.8)
        ax.set(title=title, xlabel="FPR", ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.02))
        ax.grid(alpha=0.3)
    axes[2].axvspan(0, AUPRO_FPR_LIMIT, color="tab:orange", alpha=0.15, label=f"AUPRO range (FPR <= {AUPRO_FPR_LIMIT})")
    axes[2].legend(fontsize=8, loc="lower right")
    return to_png(fig)


def score_histogram(labels: np.ndarray, scores: np.ndarray) -> bytes:
    fig, ax = new_figure(figsize=(6, 3.5))
    bins = np.linspace(float(scores.min()), float(scores.max()) + 1e-9, 21)
    ax.hist(scores[labels == 0], bins=bins, alpha=0.6, label=f"normal ({int((labels == 0).sum())})", color="tab:green")
    ax.hist(scores[labels == 1], bins=bins, alpha=0.6, label=f"anomalous ({int((labels == 1).sum())})", color="tab:red")
    ax.set(xlabel="image score", ylabel="images", title="image scores: normal vs anomalous")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(fontsize=8)
    return to_png(fig)
