"""The Ray Tune function trainable: one full GLASS training run per trial.

Thin on purpose: the trial's config dict becomes a :class:`GlassConfig`, and the core training loop
(:func:`glass_tune.training.loop.fit`) runs with a callback that reports every evaluation to Tune and
attaches a checkpoint when the best score improves (and every ``checkpoint_every`` evaluations), so
an interrupted search resumes each trial where it stopped.
"""

from __future__ import annotations

import gc
import logging
import tempfile
from pathlib import Path
from typing import Any

import torch
from ray import tune

from glass_tune.config.schema import FIELD_NAMES, from_mapping
from glass_tune.experiment.results import HELD_OUT_PREFIX
from glass_tune.search.objective import OBJECTIVE_KEY, REPEATS_KEY, history_objective, lockstep_fit
from glass_tune.training.loop import LOSS_KEYS, Callback, EpochRecord, FitResult, TrainingRun, fit
from glass_tune.training.tensorboard_log import TensorBoardCallback
from glass_tune.util.runtime import limit_gpu_memory, quiet_exit_in_finalizers

CHECKPOINT_FILE = "checkpoint.pt"
CHECKPOINT_EVERY_KEY = "checkpoint_every"  # trial-config key outside GlassConfig, set by the tuner
SEARCHED_KEY = "searched"  # names of the searched parameters, for the hparams summary


def report_metrics(record: EpochRecord, best: dict[str, Any] | None) -> dict[str, Any]:
    """What a trial reports per evaluation: this epoch's metrics and the best epoch's as ``best_*``.

    ``best_score`` (best so far) is what ASHA and Optuna see: GLASS AUROC jumps between epochs.
    """
    assert record.evaluation is not None
    out: dict[str, Any] = {"epoch": record.epoch, **record.evaluation.metrics}
    out["score"] = record.score
    out.update({f"best_{k}": v for k, v in (best or {}).items()})
    out.update({k: record.losses[k] for k in LOSS_KEYS})
    return out


class TuneReportCallback(Callback):
    """Reports each evaluation with ``tune.report``; checkpoints on improvement and every N evaluations.

    The last epoch is reported from ``on_fit_end``, after the held-out test and after the other
    callbacks closed their files: that report carries the held-out figures (``test_*``) and a
    checkpoint, and a checkpoint makes Ray upload the trial's working directory (TensorBoard
    events, run/metrics.json) before the scheduler can end the trial.
    """

    def __init__(self, *, checkpoint_every: int, objective: str = "best") -> None:
        self.checkpoint_every = checkpoint_every
        self.objective = objective
        self._evaluations = 0
        self._last: dict[str, Any] | None = None

    def on_epoch_end(self, record: EpochRecord, run: TrainingRun) -> None:
        if record.evaluation is None:
            return
        self._evaluations += 1
        metrics = {
            **report_metrics(record, run.best),
            "val_source": run.data.val_source,
            OBJECTIVE_KEY: history_objective(run.history, objective=self.objective),
        }
        if record.epoch == run.config.epochs:
            self._last = metrics
            return
        periodic = self._evaluations % self.checkpoint_every == 0
        self._report(metrics, run, checkpoint=record.improved or periodic)

    def on_fit_end(self, result: FitResult, run: TrainingRun) -> None:
        last = self._last
        if last is None:  # resumed from the final checkpoint: say it again, Ray may not have kept it
            if not run.history:
                return
            last = {
                **run.history[-1],
                **{f"best_{k}": v for k, v in (run.best or {}).items()},
                "val_source": run.data.val_source,
                OBJECTIVE_KEY: history_objective(run.history, objective=self.objective),
            }
        held_out = {f"{HELD_OUT_PREFIX}{k}": v for k, v in (result.test or {}).items()}
        self._report({**last, **held_out, **(result.thresholds or {})}, run, checkpoint=True)

    @staticmethod
    def _report(metrics: dict[str, Any], run: TrainingRun, *, checkpoint: bool) -> None:
        if not checkpoint:
            tune.report(metrics)
            return
        with tempfile.TemporaryDirectory(prefix="glass-ckpt-") as tmp:
            run.save_checkpoint(Path(tmp) / CHECKPOINT_FILE)
            tune.report(metrics, checkpoint=tune.Checkpoint.from_directory(tmp))


def train_glass(trial_config: dict[str, Any]) -> None:
    """Ray Tune entry point (function trainable)."""
    # Ray logs every persisted checkpoint at INFO on the driver console; the progress lines say enough.
    logging.getLogger("ray.train._internal.storage").setLevel(logging.WARNING)
    quiet_exit_in_finalizers()
    glass_values = {k: v for k, v in trial_config.items() if k in FIELD_NAMES}
    config = from_mapping(glass_values, source="trial config")
    searched = {k: trial_config[k] for k in trial_config.get(SEARCHED_KEY, ()) if k in trial_config}
    # The trial's working directory on the node it runs on: Ray uploads it to the trial's folder in
    # the experiment storage (SyncConfig(sync_artifacts=True)). get_trial_dir() is a driver-side
    # staging folder that only the driver's own node syncs.
    trial_dir = Path(tune.get_context().get_storage().trial_working_directory)
    limit_gpu_memory(tune.get_context().get_trial_resources().required_resources.get("GPU", 0))  # fractional GPUs
    objective, repeats = trial_config.get(OBJECTIVE_KEY, "best"), int(trial_config.get(REPEATS_KEY, 1))
    if repeats > 1:  # K seeds in lockstep, no checkpoints: a resumed trial starts again
        for step in lockstep_fit(config, repeats=repeats, objective=objective, out_dir=trial_dir / "run"):
            tune.report(
                {
                    **report_metrics(step.record, step.best),
                    "val_source": config.val_source,
                    OBJECTIVE_KEY: step.objective,
                    **{f"{HELD_OUT_PREFIX}{k}": v for k, v in (step.test or {}).items()},
                }
            )
        return
    callbacks = [
        TensorBoardCallback(trial_dir, hparams=searched),
        TuneReportCallback(checkpoint_every=int(trial_config.get(CHECKPOINT_EVERY_KEY, 5)), objective=objective),
    ]
    try:
        restored = tune.get_checkpoint()
        if restored is None:
            fit(config, out_dir=trial_dir / "run", callbacks=callbacks, save_checkpoints=False)
        else:
            with restored.as_directory() as ckpt_dir:
                fit(
                    config,
                    out_dir=trial_dir / "run",
                    callbacks=callbacks,
                    resume=Path(ckpt_dir) / CHECKPOINT_FILE,
                    save_checkpoints=False,
                )
    finally:
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
