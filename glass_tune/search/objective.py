"""What a search trial optimises, so that it ranks configurations rather than seeds.

GLASS's per-epoch validation score jumps between epochs and between seeds (see
``benchmarks/results/seed_spread.json``), and the best score over epochs is the maximum of a noisy
curve: it rewards a lucky epoch (winner's curse). Two remedies, usable together:

- ``objective: smoothed``: the mean of the best :data:`TOP_K` evaluations so far instead of the
  single best one; a config has to score well on several epochs.
- ``repeats: K``: one trial trains the configuration with K seeds in lockstep (epoch by epoch) and
  reports the per-epoch mean of their metrics, so the curve ASHA and Optuna see is a K-seed mean and
  ASHA can still stop the trial after any epoch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from glass_tune.config.schema import GlassConfig
from glass_tune.search.protocol import DEFAULT_METRIC, OBJECTIVE_KEY
from glass_tune.util.errors import ConfigError

if TYPE_CHECKING:  # training imports torch; the CLI imports this module for its flag choices
    from glass_tune.training.loop import EpochRecord

OBJECTIVES = ("best", "smoothed")
DEFAULT_OBJECTIVE = "best"
DEFAULT_REPEATS = 1
TOP_K = 3
SEED_STRIDE = 1000  # seeds of the repeats: seed, seed + 1000, ... (far from a neighbouring trial's seed)


def check_objective(*, objective: str, repeats: int) -> None:
    """One-line errors for the ``--objective`` and ``--repeats`` flags."""
    if objective not in OBJECTIVES:
        raise ConfigError(f"--objective {objective}: expected one of {', '.join(OBJECTIVES)}")
    if repeats < 1:
        raise ConfigError(f"--repeats {repeats}: expected at least 1")


def objective_metric(*, space_metric: str, objective: str) -> str:
    """The reported key a search optimises: the space's metric, or ``objective`` for ``smoothed``.

    ``smoothed`` replaces ``best_score`` (the default metric); a space that names another metric
    optimises that metric, and asking to smooth it as well is refused rather than ignored.
    """
    if objective == "best" or space_metric == OBJECTIVE_KEY:
        return space_metric
    if space_metric != DEFAULT_METRIC:
        raise ConfigError(f"--objective {objective}: the space optimises '{space_metric}'; smoothing applies to best_score only")
    return OBJECTIVE_KEY


def objective_value(scores: Sequence[float], *, objective: str, top_k: int = TOP_K) -> float:
    """The objective of a curve of evaluation scores (higher is better): the best one, or the mean
    of the best ``top_k`` (all of them while fewer were evaluated)."""
    finite = [s for s in scores if s is not None and math.isfinite(s)]
    if not finite:
        return -math.inf
    if objective == "best":
        return max(finite)
    return float(np.mean(sorted(finite)[-top_k:]))


def history_objective(history: Sequence[dict], *, objective: str) -> float:
    """:func:`objective_value` of a run's ``metrics.json`` history (resume-safe: no separate state)."""
    return objective_value([row["score"] for row in history if "score" in row], objective=objective)


@dataclass
class LockstepStep:
    """One evaluated epoch of a repeated configuration: the seeds' mean as one record."""

    record: EpochRecord
    best: dict | None  # the best epoch of the mean curve, with ``score``
    objective: float
    test: dict[str, float] | None = None  # mean held-out figures, on the last epoch only


def _mean(values: Sequence[float]) -> float:
    finite = [v for v in values if v is not None and not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def lockstep_fit(
    config: GlassConfig, *, repeats: int, objective: str, out_dir: str | Path | None = None
) -> Iterator[LockstepStep]:
    """Train ``config`` with ``repeats`` seeds epoch by epoch; yield the mean of every evaluated epoch.

    Run ``i`` uses seed ``config.seed + i * SEED_STRIDE`` and writes to ``out_dir/seed_<seed>``.
    The last step carries the mean held-out test figures (each run's at its own selected epoch).
    Stopping the iteration early (ASHA) simply abandons the runs.
    """
    from glass_tune.training.checkpoint import capture_rng, restore_rng
    from glass_tune.training.loop import LOSS_KEYS, EpochRecord, Evaluation, finish_run, run_epoch, score_of, start_run

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

    curve: list[float] = []
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
        curve.append(mean.score)
        if best is None or mean.score > best["score"]:
            best = {"epoch": mean.epoch, **metrics, "score": mean.score}
            mean.improved = True
        mean.best_score, mean.best_epoch = best["score"], best["epoch"]
        step = LockstepStep(record=mean, best=best, objective=objective_value(curve, objective=objective))
        if last:
            tests = [finish_run(run).test for run in runs]  # inference only: no RNG draws
            if all(t is not None for t in tests):
                step.test = {k: _mean([t[k] for t in tests]) for k in tests[0]}
        yield step
