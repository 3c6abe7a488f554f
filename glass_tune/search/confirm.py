"""The confirmation stage on Ray: each finalist trained again with fresh seeds, as Ray trials.

A second Tune run per category, in ``<category>/confirm/`` of the same experiment (same cluster,
trial resources, storage, checkpoints, TensorBoard events and status), over a fixed list of
(finalist, seed) trial configs and without early stopping: every run trains all epochs, so the
seeds compare like with like. The finalists and seeds are fixed in ``finalists.json`` before the
run starts; a driver stopped during confirmation restores this Tune run (``Tuner.restore``) and
races the same finalists on the same seeds. The decision is :mod:`glass_tune.experiment.confirmation`.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Sequence
from typing import Any

from ray.tune.search import Searcher

from glass_tune.experiment.confirmation import (
    CONFIRM_DIR,
    FINALIST_KEY,
    Finalist,
    choose_finalists,
    confirm_seeds,
    confirmation_record,
    decide,
    finalist_results,
    read_finalists,
    write_confirmation,
    write_finalists,
)
from glass_tune.experiment.protocol import REPEATS_KEY, Objective
from glass_tune.experiment.results import load_trials
from glass_tune.experiment.storage import Location
from glass_tune.experiment.trial_index import TrialRecord
from glass_tune.search.concurrency import trial_slots
from glass_tune.search.options import SearchInterrupted
from glass_tune.util.logs import get_logger

log = get_logger(__name__)


class FixedTrials(Searcher):
    """Hands out a fixed list of trial configs in order (Ray's state file keeps the position).

    Honours the experiment's ``--max-concurrent-total`` like the Optuna searcher does.
    """

    def __init__(self, configs: Sequence[dict[str, Any]], *, metric: str, mode: str, slots_key: str | None = None) -> None:
        super().__init__(metric=metric, mode=mode)
        self.configs = [dict(c) for c in configs]
        self.given: dict[str, int] = {}
        self.slots_key = slots_key

    def suggest(self, trial_id: str) -> dict | None:
        if trial_id not in self.given and len(self.given) >= len(self.configs):
            return Searcher.FINISHED
        slots = trial_slots(self.slots_key)
        if slots is not None and not slots.take(trial_id):
            return None  # the total limit is reached: Ray asks again later
        index = self.given.setdefault(trial_id, len(self.given))
        return dict(self.configs[index])

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        slots = trial_slots(self.slots_key)
        if slots is not None:
            slots.give(trial_id)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as fh:
            pickle.dump({"configs": self.configs, "given": self.given, "slots_key": self.slots_key}, fh)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as fh:
            self.__dict__.update(pickle.load(fh))


def trial_configs(finalists: Sequence[Finalist], seeds: Sequence[int]) -> list[dict[str, Any]]:
    """One single-seed trial per (finalist, seed), seed-major so every seed's pair finishes early."""
    return [{**f.config, "seed": s, REPEATS_KEY: 1, FINALIST_KEY: f.name} for s in seeds for f in finalists]


def split_common(configs: Sequence[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The values every config shares (the Tune run's param_space) and what each adds (its suggestion).

    Ray records a searcher's suggestion as the trial's evaluated parameters (TensorBoard's hparams),
    so only what differs between the runs is suggested: the searched values, seed and finalist.
    """
    common = {k: v for k, v in configs[0].items() if all(k in c and c[k] == v for c in configs[1:])} if configs else {}
    return common, [{k: v for k, v in c.items() if k not in common} for c in configs]


def fix_finalists(
    category_dir: Location,
    *,
    trials: Sequence[TrialRecord],
    objective: Objective,
    default_config: dict[str, Any],
    top: int,
    seeds: int,
    export_rule: str,
) -> tuple[list[Finalist], list[int]]:
    """The finalists and seeds of this category: read back on resume, else chosen and recorded now
    (with the export rule, so a resumed race decides as it was asked to)."""
    recorded = read_finalists(category_dir)
    if recorded is not None:
        return recorded
    finalists = choose_finalists(trials, objective=objective, default_config=default_config, top=top)
    chosen = confirm_seeds(int(default_config["seed"]), seeds)
    write_finalists(category_dir, finalists=finalists, seeds=chosen, export_rule=export_rule)
    return finalists, chosen


def run_confirmation(
    *,
    category_dir: Location,
    finalists: Sequence[Finalist],
    seeds: Sequence[int],
    objective: Objective,
    start: Callable[[list[dict[str, Any]]], Any],
    fit: Callable[[Callable[[], Any]], Any],
    resume_command: str,
    export_rule: str,
) -> dict[str, Any]:
    """Run (or resume) the confirmation trials, then write and return ``confirmation.json``'s record.

    ``start(configs)`` makes or restores the Tuner, ``fit(make)`` runs ``make().fit()`` in the
    driver's turn; the driver owns both (resources, storage, callbacks).
    """
    folder = category_dir / CONFIRM_DIR
    configs = trial_configs(finalists, seeds)
    category = category_dir.name
    names = ", ".join(f.name for f in finalists)
    log.info(f"[{category}] confirmation: {len(finalists)} finalists ({names}) x seeds {list(seeds)}")
    fit(lambda: start(configs))
    trials = load_trials(category_dir=folder)
    ended = [t for t in trials if t.outcome.finished]
    if len(trials) < len(configs) or len(ended) < len(trials):
        raise SearchInterrupted(
            f"confirmation of '{category}' interrupted with {len(ended)} of {len(configs)} trials finished; "
            f"continue it with: {resume_command}"
        )
    results = finalist_results(finalists, seeds=seeds, trials=trials, objective=objective)
    verdict = decide(results, objective=objective, export_rule=export_rule)
    record = confirmation_record(category=category, results=results, verdict=verdict, objective=objective)
    write_confirmation(category_dir, record)
    for t in trials:
        if t.error is not None:
            log.info(f"[{category}] confirmation trial {t.trial_id} errored: {t.error}")
    log.info(f"[{category}] confirmation finished: {verdict.line}")
    return record
