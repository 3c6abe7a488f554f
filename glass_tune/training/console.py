"""Human-readable progress of a training run: one line per epoch."""

from __future__ import annotations

from glass_tune.training.loop import Callback, EpochRecord, TrainingRun
from glass_tune.util.logs import get_logger
from glass_tune.util.numbers import metric_text

log = get_logger(__name__)


def format_metrics(m: dict) -> str:
    """``image AUROC 0.9812  pixel AUROC ...`` for a metrics mapping (missing values print n/a)."""
    return (
        f"image AUROC {metric_text(m.get('image_auroc'))}  pixel AUROC {metric_text(m.get('pixel_auroc'))}  "
        f"AUPRO {metric_text(m.get('aupro'))}  image F1 {metric_text(m.get('image_f1'))}"
    )


def format_decisions(m: dict) -> str:
    """Held-out decisions at the calibrated thresholds (empty when the run had none)."""
    if "precision" not in m:
        return ""
    return (
        f"at the threshold: precision {metric_text(m.get('precision'))}  recall {metric_text(m.get('recall'))}  "
        f"F1 {metric_text(m.get('f1_at_threshold'))}  false positives {metric_text(m.get('false_positive_rate'))}  "
        f"pixel F1 {metric_text(m.get('pixel_f1_at_threshold'))}"
    )


def format_thresholds(t: dict) -> str:
    """The calibrated thresholds and their rules, one line."""
    return (
        f"thresholds: image {t['image_threshold']:.4f} ({t['image_rule']}), pixel {t['pixel_threshold']:.4f} ({t['pixel_rule']})"
    )


class ConsoleCallback(Callback):
    """Prints the epoch's loss, and the metrics when the epoch was evaluated (``*`` marks a new best)."""

    def on_epoch_end(self, record: EpochRecord, run: TrainingRun) -> None:
        line = f"epoch {record.epoch:>3}/{run.config.epochs}  loss {record.losses['loss']:.4f}"
        if record.evaluation is not None:
            line += "  " + format_metrics(record.evaluation.metrics) + (" *" if record.improved else "")
        line += f"  ({record.seconds:.1f}s)"
        log.info(line)
