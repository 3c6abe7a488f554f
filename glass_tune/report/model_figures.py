"""The report's figures that need the model: the best trial's selected model scored on its held-out
images (validation images when none are held out) through training's own evaluation, then drawn as
heat maps, ROC/PRO curves and a score histogram.

torch and the training code load only when a checkpoint is scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from glass_tune.experiment.results import TrialRecord, checkpoint_file
from glass_tune.experiment.storage import Location
from glass_tune.report import plots
from glass_tune.report.sections import Plot
from glass_tune.util.errors import DataError

if TYPE_CHECKING:  # torch: loaded only when the report scores a checkpoint
    from torch.utils.data import Dataset

    from glass_tune.training.loop import Evaluation

MAX_OVERLAYS = 8
METRIC_LABELS = {"image_auroc": "image AUROC", "pixel_auroc": "pixel AUROC", "aupro": "AUPRO"}


@dataclass
class BestTrialEvaluation:
    """The best trial's selected model scored on its held-out images (validation ones when none are held out)."""

    evaluation: Evaluation
    dataset: Dataset
    held_out: bool
    selected_epoch: Any
    val_source: str
    thresholds: dict[str, Any] | None  # calibrated at the selected epoch (older checkpoints: none)


def evaluate_checkpoint(path: Location, *, device: str) -> BestTrialEvaluation:
    """Score a trial's selected model exactly as its run did: the run's images, input size and mask protocol.

    Raises DataError when the run's data is not readable here.
    """
    from glass_tune.inference.model_source import read_checkpoint
    from glass_tune.training.checkpoint import selected_model
    from glass_tune.training.loop import evaluate_dataset
    from glass_tune.training.run_inputs import evaluation_dataset, run_samples, validation_dataset
    from glass_tune.util.runtime import resolve_device

    ckpt = read_checkpoint(path)
    samples = run_samples(ckpt.config)
    held_out = samples.test is not None
    dataset = evaluation_dataset(ckpt.config, samples.test) if held_out else validation_dataset(ckpt.config, samples)
    dev = resolve_device(device)
    ev = evaluate_dataset(selected_model(ckpt, source=path).to(dev), dataset, ckpt.config, dev)
    selected = (ckpt.best or {}).get("epoch", "?")
    return BestTrialEvaluation(ev, dataset, held_out, selected, ckpt.config.val_source, ckpt.thresholds)


def best_trial_plots(best: TrialRecord, *, category_dir: Location, device: str, notes: list[str]) -> list[Plot]:
    """The exported trial's selected model on its held-out images (validation images when none are
    held out); ``category_dir`` is the Ray experiment that ran it. What it scored, or why there are
    no such plots, goes to ``notes``."""
    from glass_tune.data import denormalize
    from glass_tune.inference.heatmaps import relative_names

    path = checkpoint_file(trial=best, category_dir=category_dir)
    if path is None:
        notes.append(f"Exported trial {best.trial_id} kept no checkpoint: no heat maps.")
        return []
    try:
        scored = evaluate_checkpoint(path, device=device)
    except DataError as exc:
        notes.append(f"Exported trial {best.trial_id}: its data is not readable here ({exc}); no heat maps.")
        return []
    ev, dataset = scored.evaluation, scored.dataset
    which = "held-out test" if scored.held_out else f"validation (nothing was held out: val_source={scored.val_source})"
    notes.append(
        f"Exported trial {best.trial_id}: selected epoch {scored.selected_epoch}, {len(dataset)} {which} images; "
        + ", ".join(f"{METRIC_LABELS.get(k, k)} {v:.4f}" for k, v in ev.metrics.items())
    )
    if scored.thresholds is not None:
        from glass_tune.training.console import format_decisions, format_thresholds
        from glass_tune.training.loop import held_out_decisions

        notes.append(
            f"Exported trial {best.trial_id}: {format_thresholds(scored.thresholds)}; on these images "
            + format_decisions(held_out_decisions(ev, scored.thresholds))
        )
    picks = _overlay_picks(ev.labels)
    items = [dataset[i] for i in picks]
    images = [denormalize(it["image"]).clamp(0, 1).permute(1, 2, 0).numpy() for it in items]
    names = relative_names([s.path for s in dataset.samples])  # distinct, like predict's outputs
    titles = [f"{names[i].with_suffix('').as_posix()}  score {ev.scores[i]:.3f}" for i in picks]
    return [
        Plot(
            "best_trial_overlays",
            "Exported model: anomaly maps on held-out images",
            plots.overlays(images, [ev.maps[i] for i in picks], [ev.masks[i] for i in picks], titles),
        ),
        Plot(
            "best_trial_roc_pro", "Exported model: ROC and PRO curves", plots.roc_and_pro(ev.labels, ev.scores, ev.masks, ev.maps)
        ),
        Plot("best_trial_histogram", "Exported model: image scores", plots.score_histogram(ev.labels, ev.scores)),
    ]


def _overlay_picks(labels: np.ndarray) -> list[int]:
    """Up to six anomalous and two normal images, spread over the set."""
    anomalous, normal = np.flatnonzero(labels == 1), np.flatnonzero(labels == 0)
    n_normal = min(len(normal), 2)
    n_anomalous = min(len(anomalous), MAX_OVERLAYS - n_normal)

    def spread(idx: np.ndarray, k: int) -> list[int]:
        return [int(idx[j]) for j in np.linspace(0, len(idx) - 1, k).round().astype(int)] if k else []

    return spread(anomalous, n_anomalous) + spread(normal, n_normal)
