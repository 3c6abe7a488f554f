"""The Ray Tune function trainable: one full GLASS training run per trial.

Thin on purpose: the trial's config dict becomes a :class:`GlassConfig`, and the core training loop
(:func:`glass_tune.training.loop.fit`) runs with a callback that reports every evaluation to Tune and
attaches a checkpoint when the best score improves (and every ``checkpoint_every`` evaluations), so
an interrupted search resumes each trial where it stopped.

The keys a trial receives and reports are the on-disk protocol (``glass_tune.experiment.protocol``);
this module writes the reports, every one through :func:`trial_report`. The search's base config is
not taken on trust from the trial's config dict: Ray loses it when it restores an experiment whose
state is younger than its first snapshot; every trial checks its config against the base the driver
wrote (``glass_tune.experiment.protocol.trial_values``).

The search hands Ray this module's function (the one name the library imports from ``trainables/``);
it imports only ``glass_tune.training``, ``glass_tune.experiment`` and ``glass_tune.util``, never the search.
"""

from __future__ import annotations

import gc
import logging
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from ray import tune

from glass_tune.experiment.protocol import (
    BEST_PREFIX,
    CHECKPOINT_EVERY_KEY,
    CHECKPOINT_FILE,
    REPEATS_KEY,
    RULED_SCORE_KEY,
    SCORE_RULE_KEY,
    SEARCHED_KEY,
    held_out_report,
    read_trial_base,
    thresholds_report,
    trial_values,
)
from glass_tune.experiment.score_rules import history_rule_score, rule_score
from glass_tune.experiment.storage import Location
from glass_tune.training.loop import LOSS_KEYS, Callback, EpochRecord, FitResult, TrainingRun, fit
from glass_tune.training.repeats import lockstep_fit
from glass_tune.training.tensorboard_log import TensorBoardCallback
from glass_tune.util.logs import NOTICES_LOGGER
from glass_tune.util.runtime import limit_gpu_memory, quiet_exit_in_finalizers


def epoch_figures(record: EpochRecord) -> dict[str, Any]:
    """An evaluated epoch's own figures as a trial reports them: epoch, metrics, score and losses."""
    assert record.evaluation is not None
    return {
        "epoch": record.epoch,
        **record.evaluation.metrics,
        "score": record.score,
        **{k: record.losses[k] for k in LOSS_KEYS},
    }


def trial_report(
    epoch: Mapping[str, Any],
    *,
    best: Mapping[str, Any] | None,
    val_source: str,
    score: float,
    test: Mapping[str, float] | None = None,
    thresholds: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a trial reports to Tune (every report is built here): the epoch's figures, the best
    epoch's as ``best_*``, the validation source and the score under the trial's score rule; the last
    report adds the held-out figures as ``test_*`` and the calibrated thresholds
    (``glass_tune.experiment.protocol``).

    ``best_score`` (best so far) is what ASHA and Optuna see: GLASS AUROC jumps between epochs.
    """
    return {
        **epoch,
        **{f"{BEST_PREFIX}{k}": v for k, v in (best or {}).items()},
        "val_source": val_source,
        RULED_SCORE_KEY: score,
        **held_out_report(test),
        **thresholds_report(thresholds),
    }


class TuneReportCallback(Callback):
    """Reports each evaluation with ``tune.report``; checkpoints on improvement and every N evaluations.

    The last epoch is reported from ``on_fit_end``, after the held-out test and after the other
    callbacks closed their files: that report carries the held-out figures (``test_*``) and a
    checkpoint, and a checkpoint makes Ray upload the trial's working directory (TensorBoard
    events, run/metrics.json) before the scheduler can end the trial.
    """

    def __init__(self, *, checkpoint_every: int, score_rule: str = "best") -> None:
        self.checkpoint_every = checkpoint_every
        self.score_rule = score_rule
        self._evaluations = 0
        self._last: dict[str, Any] | None = None  # the last epoch's figures, reported from on_fit_end

    def on_epoch_end(self, record: EpochRecord, run: TrainingRun) -> None:
        if record.evaluation is None:
            return
        self._evaluations += 1
        if record.epoch == run.config.epochs:
            self._last = epoch_figures(record)
            return
        periodic = self._evaluations % self.checkpoint_every == 0
        self._report(self._report_of(epoch_figures(record), run), run, checkpoint=record.improved or periodic)

    def on_fit_end(self, result: FitResult, run: TrainingRun) -> None:
        # resumed from the final checkpoint: say the last epoch again, Ray may not have kept it
        last = self._last if self._last is not None else (run.history[-1] if run.history else None)
        if last is None:
            return
        self._report(self._report_of(last, run, test=result.test, thresholds=result.thresholds), run, checkpoint=True)

    def _report_of(self, epoch: Mapping[str, Any], run: TrainingRun, **final: Any) -> dict[str, Any]:
        score = history_rule_score(run.history, rule=self.score_rule)
        return trial_report(epoch, best=run.best, val_source=run.data.val_source, score=score, **final)

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
    score_rule, repeats = settings[SCORE_RULE_KEY], int(settings[REPEATS_KEY])
    if repeats > 1:  # K seeds in lockstep, no checkpoints: a resumed trial starts again
        curve = []
        for step in lockstep_fit(config, repeats=repeats, out_dir=trial_dir / "run"):
            curve.append(step.record.score)
            score = rule_score(curve, rule=score_rule)
            tune.report(
                trial_report(
                    epoch_figures(step.record), best=step.best, val_source=config.val_source, score=score, test=step.test
                )
            )
        return
    callbacks = [
        TensorBoardCallback(trial_dir, hparams=searched),
        TuneReportCallback(checkpoint_every=int(settings[CHECKPOINT_EVERY_KEY]), score_rule=score_rule),
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
