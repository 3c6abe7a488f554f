"""Repeats: one configuration trained with K seeds in lockstep, epoch by epoch, reported as their mean.

A search trial with ``repeats: K`` uses this (``trainables/glass.py``), so the curve ASHA and Optuna
see is a K-seed mean and ASHA can still stop the trial after any epoch; see
``glass_tune.experiment.score_rules`` for why.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glass_tune.config.schema import GlassConfig
from glass_tune.training.checkpoint import capture_rng, restore_rng
from glass_tune.training.loop import LOSS_KEYS, EpochRecord, Evaluation, finish_run, run_epoch, score_of, start_run

SEED_STRIDE = 1000  # seeds of the repeats: seed, seed + 1000, ... (far from a neighbouring trial's seed)


@dataclass
class LockstepStep:
    """One evaluated epoch of a repeated configuration: the seeds' mean as one record."""

    record: EpochRecord
    best: dict | None  # the best epoch of the mean curve, with ``score``
    test: dict[str, float] | None = None  # mean held-out figures, on the last epoch only


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def lockstep_fit(config: GlassConfig, *, repeats: int, out_dir: str | Path | None = None) -> Iterator[LockstepStep]:
    """Train ``config`` with ``repeats`` seeds epoch by epoch; yield the mean of every evaluated epoch.

    Run ``i`` uses seed ``config.seed + i * SEED_STRIDE`` and writes to ``out_dir/seed_<seed>``.
    The last step carries the mean held-out test figures (each run's at its own selected epoch).
    Stopping the iteration early (ASHA) simply abandons the runs.
    """
    out = Path(out_dir) if out_dir is not None else None
    runs, rng = [], []
    for i in range(repeats):
        seed = config.seed + i * SEED_STRIDE
        runs.append(start_run(config.replace(seed=seed), out_dir=None if out is None else out / f"seed_{seed}", resume=None))
        rng.append(capture_rng())

    def advance(i: int) -> EpochRecord:
        """Run i's next epoch on its own global RNG stream, exactly as if it trained alone."""
        restore_rng(rng[i])
        record = run_epoch(runs[i])
        rng[i] = capture_rng()
        return record

    best: dict | None = None
    while runs[0].epoch < runs[0].config.epochs:
        records = [advance(i) for i in range(repeats)]
        last = runs[0].epoch == runs[0].config.epochs
        if records[0].evaluation is None:
            continue
        metrics = {k: _mean([r.evaluation.metrics[k] for r in records]) for k in records[0].evaluation.metrics}
        mean = EpochRecord(
            epoch=records[0].epoch,
            losses={k: _mean([r.losses[k] for r in records]) for k in LOSS_KEYS},
            seconds=sum(r.seconds for r in records),
            evaluation=Evaluation(metrics=metrics, labels=np.empty(0), scores=np.empty(0), masks=np.empty(0), maps=np.empty(0)),
            score=score_of(metrics),
        )
        if best is None or mean.score > best["score"]:
            best = {"epoch": mean.epoch, **metrics, "score": mean.score}
            mean.improved = True
        mean.best_score, mean.best_epoch = best["score"], best["epoch"]
        step = LockstepStep(record=mean, best=best)
        if last:
            tests = [finish_run(run).test for run in runs]  # inference only: no RNG draws
            if all(t is not None for t in tests):
                step.test = {k: _mean([t[k] for t in tests]) for k in tests[0]}
        yield step
