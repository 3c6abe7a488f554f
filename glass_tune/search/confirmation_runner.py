"""The confirmation's runner on Ray: each finalist trained again with fresh seeds, as Ray trials.

A second Tune run per category, in ``<category>/confirm/`` of the same experiment (same cluster,
trial resources, storage, checkpoints, TensorBoard events and status), over a fixed list of
(finalist, seed) trial configs and without early stopping: every run trains all epochs, so the
seeds compare like with like. The finalists and seeds are fixed in ``finalists.json`` before the
run starts; a driver stopped during confirmation restores this Tune run (``Tuner.restore``) and
races the same finalists on the same seeds (``glass_tune.search.tuner.start_or_restore``, as the
search does). The decision and its record are :mod:`glass_tune.experiment.confirmation`.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

from ray.tune.search import Searcher

from glass_tune.config.schema import FIELD_NAMES, GlassConfig, from_mapping
from glass_tune.experiment.confirmation import (
    CONFIRM_DIR,
    FINALIST_KEY,
    Finalist,
    choose_finalists,
    confirm_seeds,
    confirmation_record,
    decide,
    finalist_results,
    read_export_rule,
    read_finalists,
    write_confirmation,
    write_finalists,
)
from glass_tune.experiment.protocol import REPEATS_KEY, SEARCHED_KEY, VARIED_KEY, Objective
from glass_tune.experiment.results import load_trials
from glass_tune.experiment.storage import Location
from glass_tune.experiment.trial_index import TrialRecord
from glass_tune.search.concurrency import trial_slots
from glass_tune.search.options import SearchInterrupted, TuneOptions
from glass_tune.search.progress import fit_in_turn
from glass_tune.search.space import SearchSpace
from glass_tune.search.tuner import new_tuner, start_or_restore
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


def paper_default_config(base: GlassConfig, space: SearchSpace, template: dict[str, Any]) -> dict[str, Any]:
    """The trial config of the paper default: a search trial's config with every searched value
    taken from the space's first starting point (resolved for the category), else from the base."""
    run = from_mapping({k: v for k, v in template.items() if k in FIELD_NAMES}, source="trial config")
    points = space.resolve(run).points_to_evaluate
    point = points[0] if points else {}
    values = base.to_dict()
    return {**template, **{k: point.get(k, values[k]) for k in template.get(SEARCHED_KEY, [])}}


def confirm_category(
    base: GlassConfig,
    space: SearchSpace,
    options: TuneOptions,
    *,
    category_dir: Location,
    trials: Sequence[TrialRecord],
    objective: Objective,
) -> dict[str, Any]:
    """Race the finalists of a finished search on fresh seeds (or resume the race), then write and return
    ``confirmation.json``'s record."""
    from ray.tune.schedulers import FIFOScheduler

    finalists, seeds = fix_finalists(
        category_dir,
        trials=trials,
        objective=objective,
        default_config=paper_default_config(base, space, trials[0].config),
        top=options.confirm_top,
        seeds=options.confirm_seeds,
        export_rule=options.confirm_export,
    )
    category, folder = category_dir.name, category_dir / CONFIRM_DIR
    label = f"{category}/{CONFIRM_DIR}"
    configs = trial_configs(finalists, seeds)
    common, suggestions = split_common(configs)
    log.info(
        f"[{category}] confirmation: {len(finalists)} finalists ({', '.join(f.name for f in finalists)}) x seeds {list(seeds)}"
    )

    def start(trial_base: dict[str, Any]):
        searcher = FixedTrials(suggestions, metric=objective.metric, mode=objective.mode, slots_key=options.name)
        # FIFO: every seed trains all epochs, so like is compared with like
        return new_tuner(
            options,
            objective,
            storage=category_dir,
            name=CONFIRM_DIR,
            label=label,
            param_space=trial_base,
            searcher=searcher,
            scheduler=FIFOScheduler(),
            trials=len(configs),
        )

    fit_in_turn(
        lambda: start_or_restore(
            folder,
            options=options,
            objective=objective,
            resume=True,  # a confirmation folder without a restorable state is always started over
            resuming=f"[{category}] resuming the confirmation ({len(configs)} trials)",
            starting_over=None,
            trial_base=lambda: {**common, VARIED_KEY: ["seed"]},  # the seed differs between the runs of a finalist
            start=start,
        ),
        label,
    )
    confirmation_trials = load_trials(category_dir=folder)
    ended = [t for t in confirmation_trials if t.outcome.finished]
    if len(confirmation_trials) < len(configs) or len(ended) < len(confirmation_trials):
        raise SearchInterrupted(
            f"confirmation of '{category}' interrupted with {len(ended)} of {len(configs)} trials finished; "
            f"continue it with: {options.resume_command()}"
        )
    results = finalist_results(finalists, seeds=seeds, trials=confirmation_trials, objective=objective)
    verdict = decide(results, objective=objective, export_rule=read_export_rule(category_dir))
    record = confirmation_record(category=category, results=results, verdict=verdict, objective=objective)
    write_confirmation(category_dir, record)
    for t in confirmation_trials:
        if t.error is not None:
            log.info(f"[{category}] confirmation trial {t.trial_id} errored: {t.error}")
    log.info(f"[{category}] confirmation finished: {verdict.line}")
    return record
