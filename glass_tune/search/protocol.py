"""The trial protocol: what a trial receives beside its GlassConfig, and what it reports to Ray Tune.

The driver (``search/driver.py``) writes the trial config, the trainable (``trainables/glass.py``)
reads it and reports, and ``experiment/results.py``, the report and the export read the reports
back from ``result.json``: one module for the keys, so the three agree and old experiments stay
readable (renaming a key here breaks them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # training imports torch; status and the CLI read this module without it
    from glass_tune.training.loop import EpochRecord

# --- received: trial-config keys outside GlassConfig ----------------------------------------------
CHECKPOINT_EVERY_KEY = "checkpoint_every"  # checkpoint every N evaluations (and on improvement)
SEARCHED_KEY = "searched"  # names of the searched parameters (hparams summary, trial params)
REPEATS_KEY = "repeats"  # K seeds per configuration, in lockstep
OBJECTIVE_KEY = "objective"  # "best" or "smoothed"; also the reported key of the smoothed objective

# --- reported, every evaluation and once more at the end ------------------------------------------
BEST_PREFIX = "best_"  # the best epoch so far: best_score, best_epoch, best_<metric>
HELD_OUT_PREFIX = "test_"  # the last report carries the held-out figures as test_<key>
HELD_OUT_KEYS = ("image_auroc", "pixel_auroc", "aupro", "image_f1")
BEST_KEYS = ("score", "epoch", *HELD_OUT_KEYS)
DEFAULT_METRIC = BEST_PREFIX + "score"  # what ASHA and Optuna see unless the space names another key
DEFAULT_MODE = "max"

CHECKPOINT_FILE = "checkpoint.pt"  # what a trial's Ray checkpoint folder holds


def epoch_report(record: EpochRecord, best: Mapping[str, Any] | None) -> dict[str, Any]:
    """What a trial reports per evaluation: this epoch's metrics and the best epoch's as ``best_*``.

    ``best_score`` (best so far) is what ASHA and Optuna see: GLASS AUROC jumps between epochs.
    """
    from glass_tune.training.loop import LOSS_KEYS

    assert record.evaluation is not None
    out: dict[str, Any] = {"epoch": record.epoch, **record.evaluation.metrics}
    out["score"] = record.score
    out.update(best_report(best))
    out.update({k: record.losses[k] for k in LOSS_KEYS})
    return out


def best_report(best: Mapping[str, Any] | None) -> dict[str, Any]:
    """The best epoch's figures under their reported names (``best_*``)."""
    return {f"{BEST_PREFIX}{k}": v for k, v in (best or {}).items()}


def held_out_report(test: Mapping[str, float] | None) -> dict[str, float]:
    """The held-out figures under their reported names (``test_*``)."""
    return {f"{HELD_OUT_PREFIX}{k}": v for k, v in (test or {}).items()}


def held_out_of(last_result: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The held-out figures a final report carries (None if it never came)."""
    last = last_result or {}
    figures = {k: last[HELD_OUT_PREFIX + k] for k in HELD_OUT_KEYS if HELD_OUT_PREFIX + k in last}
    return figures or None


def best_of(last_result: Mapping[str, Any] | None) -> dict[str, Any]:
    """The best epoch's figures a report carries, by their plain names (score, epoch, ...)."""
    last = last_result or {}
    return {k: last.get(f"{BEST_PREFIX}{k}") for k in BEST_KEYS}


def searched_values(trial_config: Mapping[str, Any]) -> dict[str, Any]:
    """The searched parameters' values in a trial config."""
    return {k: trial_config[k] for k in trial_config.get(SEARCHED_KEY, ()) if k in trial_config}
