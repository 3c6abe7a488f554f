"""One Tuner start-or-restore, for a category's search and for its confirmation alike.

A Ray run lives in a folder of the experiment (a category, or its ``confirm/`` folder) with its trial
base (``search_base.json``) beside Ray's state. :func:`start_or_restore` continues Ray's state when a
complete first snapshot is there, and otherwise starts the run (over: Ray cannot restore a state
younger than its first snapshot). Both runs get the same storage, failure, checkpoint and callback
settings (:func:`new_tuner`), and a restored run gets its event stream anew (:func:`restored_tuner`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Any

from glass_tune.experiment.protocol import TRIAL_BASE_FILE, Objective, read_trial_base, write_trial_base
from glass_tune.experiment.storage import Location
from glass_tune.search.options import TuneOptions
from glass_tune.util.logs import get_logger

log = get_logger(__name__)


def trial_dirname(trial: Any) -> str:
    """Short trial folder names (Ray's default spells out every config key).

    Ray pickles it with the run (``glass_tune.util.legacy_names``: it was ``glass_tune.search.driver.trial_dirname``).
    """
    return f"trial_{trial.trial_id}"


def trainable(options: TuneOptions):
    """The GLASS trainable with each trial's resources."""
    from ray import tune

    from trainables.glass import train_glass

    return tune.with_resources(train_glass, {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial})


def trial_events(folder: Location, objective: Objective, options: TuneOptions):
    """The driver's trial event stream of one Ray run (a category or its confirm/ folder) and its sinks:
    the trial index, and the tracker when the search has one."""
    from glass_tune.search.tracking_sink import tracking_sinks
    from glass_tune.search.trial_events import TrialEvents, TrialIndexSink

    sinks = [TrialIndexSink(folder.uri), *tracking_sinks(folder, options)]
    return TrialEvents(metric=objective.metric, mode=objective.mode, sinks=sinks)


def new_tuner(
    options: TuneOptions,
    objective: Objective,
    *,
    storage: Location,
    name: str,
    label: str,
    param_space: dict[str, Any],
    searcher: Any,
    scheduler: Any,
    trials: int,
):
    """A Tuner of ``trials`` trials in ``storage / name``: the searcher under --max-concurrent, the
    scheduler, the objective and short trial names; storage, failures, checkpoints and callbacks."""
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    from glass_tune.search.checkpoint_guard import VanishedCheckpointGuard
    from glass_tune.search.progress import ProgressCallback

    search_alg = ConcurrencyLimiter(searcher, max_concurrent=options.max_concurrent) if options.max_concurrent else searcher
    tune_config = tune.TuneConfig(
        search_alg=search_alg,
        scheduler=scheduler,
        num_samples=trials,
        metric=objective.metric,
        mode=objective.mode,
        trial_dirname_creator=trial_dirname,
        trial_name_creator=trial_dirname,
    )
    run_config = tune.RunConfig(
        name=name,
        storage_path=storage.uri,
        # Trials write TensorBoard events and run/metrics.json into their working directory on
        # whatever node they run; Ray uploads it to the trial's folder in storage.
        sync_config=tune.SyncConfig(sync_artifacts=True, sync_period=30),
        failure_config=tune.FailureConfig(max_failures=options.max_failures),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=2, checkpoint_score_attribute=objective.metric, checkpoint_score_order=objective.mode
        ),
        callbacks=[
            VanishedCheckpointGuard(),
            ProgressCallback(category=label, samples=trials, objective=objective),
            trial_events(storage / name, objective, options),
        ],
        verbose=0,
    )
    return tune.Tuner(trainable(options), param_space=param_space, tune_config=tune_config, run_config=run_config)


def restored_tuner(options: TuneOptions, folder: Location, param_space: dict[str, Any] | None, objective: Objective):
    """Ray's run in ``folder`` (a category or its confirm/ folder), continued where it now is.

    Its event stream is made anew, not taken from Ray's pickled callbacks: those name the folder the
    experiment was started in (it may have moved since), and a run started before the trial index has none.
    """
    from ray import tune

    from glass_tune.search.ray_internals import tuner_callbacks
    from glass_tune.search.relocation import relocate_search_state
    from glass_tune.search.trial_events import TrialEvents

    relocate_search_state(folder)  # an experiment moved since it started keeps its new trials here
    tuner = tune.Tuner.restore(
        folder.uri,
        trainable=trainable(options),
        param_space=param_space,
        resume_unfinished=True,
        resume_errored=False,
    )
    callbacks = tuner_callbacks(tuner)
    callbacks[:] = [c for c in callbacks if not isinstance(c, TrialEvents)] + [trial_events(folder, objective, options)]
    return tuner


def ray_state_restorable(folder: Location) -> bool:
    """Whether Ray's state in ``folder`` holds tuner.pkl and a complete first snapshot. Before all of it
    is there, Tuner.restore cannot continue: it starts a new run without the param space, and its
    trials get only the searcher's suggestion."""
    from glass_tune.search.ray_internals import FIRST_SNAPSHOT, TUNER_FILE

    names = folder.names()
    return TUNER_FILE in names and all(fnmatch.filter(names, pattern) for pattern in FIRST_SNAPSHOT)


def start_or_restore(
    folder: Location,
    *,
    options: TuneOptions,
    objective: Objective,
    resume: bool,
    resuming: str,
    starting_over: str | None,
    trial_base: Callable[[], dict[str, Any]],
    start: Callable[[dict[str, Any]], Any],
):
    """The Tuner of the Ray run in ``folder``: Ray's state continued (``resume`` and restorable), else
    the run started, over if a young state is there, with ``trial_base()`` recorded as its trial base.

    The trial base is written before Ray starts and kept for the whole run: the param space of a fresh
    start (``start(base)``) and of a restore, and what every trial is checked against. A restorable run
    started before ``search_base.json`` existed gets it now, and Ray keeps its own param space.
    ``resuming`` and ``starting_over`` are the log lines of those two cases.
    """
    if resume and ray_state_restorable(folder):
        log.info(resuming)
        if (folder / TRIAL_BASE_FILE).is_file():
            return restored_tuner(options, folder, read_trial_base(folder), objective)
        write_trial_base(folder, trial_base())
        return restored_tuner(options, folder, None, objective)
    if resume and folder.exists():
        if starting_over:
            log.info(starting_over)
        folder.remove_tree()  # Ray cannot restore any of it; stale trial folders would confuse status
    base = trial_base()
    write_trial_base(folder, base)
    return start(base)
