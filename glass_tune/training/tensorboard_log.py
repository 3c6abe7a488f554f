"""TensorBoard logging as a training callback, so ``train`` and every Ray trial write the same tags."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary

from glass_tune.training.loop import Callback, EpochRecord, Evaluation, FitResult, TrainingRun
from glass_tune.training.metrics import roc_points

LOSS_TAGS = {
    "loss": "loss/total",
    "true_loss": "loss/normal_bce",
    "gaus_loss": "loss/gas_bce",
    "bce_loss": "loss/bce",
    "focal_loss": "loss/las_focal",
    "r_t": "synthesis/r_t",
    "p_true": "synthesis/p_true",
    "p_fake": "synthesis/p_fake",
}
METRIC_TAGS = {
    "image_auroc": "auroc/image",
    "pixel_auroc": "auroc/pixel",
    "aupro": "aupro",
    "image_f1": "f1/image",
}
HPARAM_METRICS = ("best_score", "score", "auroc/image", "auroc/pixel", "aupro")
ROC_RESOLUTION = 100  # ROC curves are written as scalar series with step = FPR in percent


class TensorBoardCallback(Callback):
    """Per-epoch losses, per-evaluation metrics, the selected epoch's ROC curves at the end, and
    (given ``hparams``) an HParams session so the dashboard compares trials by their searched values.
    """

    def __init__(self, logdir: str | Path, *, hparams: dict[str, Any] | None = None) -> None:
        self.logdir = Path(logdir)
        self.hparams = hparams
        self.writer: SummaryWriter | None = None
        self._best_eval: Evaluation | None = None

    def on_fit_start(self, run: TrainingRun) -> None:
        self.writer = SummaryWriter(log_dir=str(self.logdir))
        if self.hparams:
            self._write_hparams_session()

    def _write_hparams_session(self) -> None:
        """Written at the start: a trial stopped early by ASHA never reaches the end, and the
        dashboard reads each metric's value from the last point of the scalar series of that tag."""
        assert self.writer is not None and self.hparams is not None
        values = {k: v if isinstance(v, (int, float, str, bool)) else str(v) for k, v in self.hparams.items()}
        experiment, start, _ = hparams_summary(values, dict.fromkeys(HPARAM_METRICS, 0.0))
        self.writer.file_writer.add_summary(experiment)
        self.writer.file_writer.add_summary(start)

    def on_epoch_end(self, record: EpochRecord, run: TrainingRun) -> None:
        assert self.writer is not None
        for key, tag in LOSS_TAGS.items():
            value = record.losses.get(key, math.nan)
            if not math.isnan(value):
                self.writer.add_scalar(tag, value, record.epoch)
        if record.evaluation is not None:
            for key, tag in METRIC_TAGS.items():
                value = record.evaluation.metrics[key]
                if not math.isnan(value):
                    self.writer.add_scalar(tag, value, record.epoch)
            self.writer.add_scalar("score", record.score, record.epoch)
            self.writer.add_scalar("best_score", record.best_score, record.epoch)
            if record.improved:
                self._best_eval = record.evaluation
        self.writer.add_scalar("time/epoch_seconds", record.seconds, record.epoch)
        self.writer.flush()

    def on_fit_end(self, result: FitResult, run: TrainingRun) -> None:
        assert self.writer is not None
        if self._best_eval is not None:
            ev = self._best_eval
            self._write_roc("roc/image", ev.labels, ev.scores)
            if ev.masks.any():
                self._write_roc("roc/pixel", ev.masks.ravel(), ev.maps.ravel())
        self.writer.close()

    def _write_roc(self, tag: str, labels: np.ndarray, scores: np.ndarray) -> None:
        """One TPR point per FPR percent, so TensorBoard draws the curve with FPR on the x axis."""
        assert self.writer is not None
        fpr, tpr = roc_points(labels, scores)
        grid = np.arange(ROC_RESOLUTION + 1) / ROC_RESOLUTION
        for step, value in zip(range(ROC_RESOLUTION + 1), np.interp(grid, fpr, tpr), strict=True):
            self.writer.add_scalar(tag, float(value), step)
