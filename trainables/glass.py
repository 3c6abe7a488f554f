"""The Ray Tune function trainable: one full GLASS training run per trial.

Thin on purpose: the trial's config dict becomes a :class:`GlassConfig`, and the core training loop
(:func:`glass_tune.training.loop.fit`) runs with a callback that reports every evaluation to Tune and
attaches a checkpoint when the best score improves (and every ``checkpoint_every`` evaluations), so
an interrupted search resumes each trial where it stopped.

The search's base config is not taken on trust from the trial's config dict: Ray loses it when it
restores an experiment whose state is younger than its first snapshot; every trial checks its
config against the base the driver wrote (``glass_tune.search.protocol.trial_values``).
"""

from __future__ import annotations

import gc
import logging
import tempfile
from pathlib import Path
from typing import Any

import torch
from ray import tune

from glass_tune.experiment.storage import Location
from glass_tune.search.objective import history_objective, objective_value
from glass_tune.search.protocol import (
    CHECKPOINT_EVERY_KEY,
    CHECKPOINT_FILE,
    OBJECTIVE_KEY,
    REPEATS_KEY,
    SEARCHED_KEY,
    best_report,
    epoch_report,
    held_out_report,
    read_trial_base,
    thresholds_report,
    trial_values,
)
from glass_tune.training.loop import Callback, EpochRecord, FitResult, TrainingRun, fit
from glass_tune.training.repeats import lockstep_fit
from glass_tune.training.tensorboard_log import TensorBoardCallback
from glass_tune.util.logs import NOTICES_LOGGER
from glass_tune.util.runtime import limit_gpu_memory, quiet_exit_in_finalizers


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
            **epoch_report(record, run.best),
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
                **best_report(run.best),
                "val_source": run.data.val_source,
                OBJECTIVE_KEY: history_objective(run.history, objective=self.objective),
            }
        self._report({**last, **held_out_report(result.test), **thresholds_report(result.thresholds)}, run, checkpoint=True)

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
    # The driver's preflight said each protocol notice once; per trial they would repeat behind Ray's prefixes.
    logging.getLogger(NOTICES_LOGGER).setLevel(logging.ERROR)
    quiet_exit_in_finalizers()
    storage = tune.get_context().get_storage()
    category_dir = Location(storage.storage_filesystem, storage.experiment_fs_path, storage.experiment_fs_path)
    config, settings = trial_values(trial_config, read_trial_base(category_dir))
    searched = {k: getattr(config, k) for k in settings[SEARCHED_KEY]}
    # The trial's working directory on the node it runs on: Ray uploads it to the trial's folder in
    # the experiment storage (SyncConfig(sync_artifacts=True)). get_trial_dir() is a driver-side
    # staging folder that only the driver's own node syncs.
    trial_dir = Path(storage.trial_working_directory)
    limit_gpu_memory(tune.get_context().get_trial_resources().required_resources.get("GPU", 0))  # fractional GPUs
    objective, repeats = settings[OBJECTIVE_KEY], int(settings[REPEATS_KEY])
    if repeats > 1:  # K seeds in lockstep, no checkpoints: a resumed trial starts again
        curve = []
        for step in lockstep_fit(config, repeats=repeats, out_dir=trial_dir / "run"):
            curve.append(step.record.score)
            tune.report(
                {
                    **epoch_report(step.record, step.best),
                    "val_source": config.val_source,
                    OBJECTIVE_KEY: objective_value(curve, objective=objective),
                    **held_out_report(step.test),
                }
            )
        return
    callbacks = [
        TensorBoardCallback(trial_dir, hparams=searched),
        TuneReportCallback(checkpoint_every=int(settings[CHECKPOINT_EVERY_KEY]), objective=objective),
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
