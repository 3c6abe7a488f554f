"""The search service: Ray Tune runs GLASS trainings as trials, Optuna proposes the hyperparameters.

One search per category.  Layout of an experiment ``<storage>/<name>/`` (a folder, a shared mount
or an object-store prefix; see :mod:`glass_tune.experiment.storage`)::

    search.yaml        what was asked (base config, space, options): --resume reads it back
    optuna.journal     the Optuna studies of every category (unless --optuna-storage; see glass_tune.search.optuna_searcher)
    <category>/        Ray's experiment (one sub-folder per trial, TensorBoard events inside)
    <category>/search_base.json    what every trial gets besides its suggestion (written before Ray starts)
    <category>/trials.json         glass-tune's plain index of the trials (what every reader reads; glass_tune.search.trial_events)
    <category>/finalists.json     the confirmation's finalists and seeds, fixed when the search ends
    <category>/confirm/           the confirmation's Ray experiment (finalists x fresh seeds)
    <category>/confirmation.json  the finalists' intervals and the verdict against the paper default
    <category>/best_config.yaml   the exported config, written when the category finishes
    summary.csv, summary.md       one row per category
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shlex
import socket
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

import optuna
import yaml

from glass_tune.config.schema import FIELD_NAMES, GlassConfig, from_mapping, parse_override
from glass_tune.experiment.confirmation import (
    CONFIRM_DIR,
    FINALISTS_FILE,
    LEGACY_EXPORT_RULE,
    read_confirmation,
    read_export_rule,
)
from glass_tune.experiment.results import (
    BEST_CONFIG_FILE,
    SEARCH_FILE,
    CategoryOutcome,
    Objective,
    load_trials,
    read_search_record,
    study_name,
    summarize,
    timestamp_text,
    write_summary,
)
from glass_tune.experiment.storage import Location
from glass_tune.export.config_formats import write_best_config
from glass_tune.search.options import RESOURCE_FLAGS, TRACKING_FLAGS, SearchInterrupted, TuneOptions
from glass_tune.search.progress import fit_in_turn
from glass_tune.search.protocol import (
    CHECKPOINT_EVERY_KEY,
    OBJECTIVE_KEY,
    REPEATS_KEY,
    SEARCHED_KEY,
    TRIAL_BASE_FILE,
    read_trial_base,
    write_trial_base,
)
from glass_tune.search.samplers import make_sampler
from glass_tune.search.schedulers import make_scheduler
from glass_tune.search.space import SearchSpace, SpaceSampler, space_from_record
from glass_tune.search.tracking_sink import check_tracking, finish_tracking
from glass_tune.util.errors import ConfigError, UserError
from glass_tune.util.logs import get_logger, quieted

log = get_logger(__name__)

RAY_TOKEN_LOGGER = "ray._private.authentication.authentication_token_setup"  # "Token authentication is enabled ..."


def objective_of(space: SearchSpace) -> Objective:
    """The space file names what is optimised and in which direction."""
    return Objective(metric=space.metric, mode=space.mode)


def reject_searched_overrides(space: SearchSpace, overrides: Sequence[str]) -> None:
    """``--set step=5`` while the space searches ``step`` would be silently ignored: say so instead."""
    for text in overrides:
        key = parse_override(text)[0]
        if key in space.params:
            raise ConfigError(
                f"--set {key}: '{key}' is searched by space '{space.name}'; fix it in the space's 'fixed' block instead"
            )


# --- Ray connection ----------------------------------------------------------------------------


def _check_reachable(address: str) -> None:
    """Fail in seconds, not after Ray's long retry loop, when a HOST:PORT address does not answer."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit():
        raise ConfigError(f"--address {address!r}: expected auto, HOST:PORT or ray://HOST:PORT")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=3):
            pass
    except OSError as exc:
        raise UserError(f"--address {address}: no Ray cluster answers there ({exc.strerror or exc})") from None


def connect_ray(options: TuneOptions) -> None:
    """Start an embedded local Ray (never attaching to a stray cluster) or connect to ``--address``.

    Address and GPU problems are reported before Ray starts where possible, and always before a trial.
    """
    import ray

    if options.address is None and options.gpus_per_trial > 0:
        import torch

        if not torch.cuda.is_available():
            raise ConfigError(f"--gpus-per-trial {options.gpus_per_trial}: this machine has no GPU (use 0)")
    if options.address not in (None, "auto"):
        _check_reachable(options.address)
    if not ray.is_initialized():
        _init_ray(options.address)
    resources = ray.cluster_resources()
    gpus = resources.get("GPU", 0)
    if options.gpus_per_trial > gpus:
        raise ConfigError(f"--gpus-per-trial {options.gpus_per_trial}: the Ray cluster has {gpus:g} GPU(s)")
    where = "embedded local Ray" if options.address is None else f"Ray cluster at {options.address}"
    log.info(f"connected to {where}: {resources.get('CPU', 0):g} CPU, {gpus:g} GPU")


def _verbose() -> bool:
    return log.isEnabledFor(logging.DEBUG)


def quiet_libraries() -> None:
    """Keep Ray's and Optuna's lines that say nothing to a glass-tune user off the console (-v keeps
    them): Tune's "View detailed results" and TensorBoard hint (pointing at Ray's temp folder, not the
    experiment) come from its new console output, which glass-tune's own progress lines replace; the
    "A new study created" line from Optuna's INFO log."""
    if _verbose():
        return
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # the legacy reporter at verbose=0 prints nothing
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def _init_ray(address: str | None) -> None:
    import ray

    kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False}
    if address is None:
        # A new local Ray enables token authentication and says so; glass-tune's own Ray is loopback-only.
        with quieted(RAY_TOKEN_LOGGER, level=logging.DEBUG if _verbose() else logging.ERROR):
            ray.init(address="local", **kwargs)
        return
    # Ray >= 2.52 clusters default to token authentication; a token-mode driver also connects to a
    # cluster without it, so this only turns a 20-second failure into a working connection.
    os.environ.setdefault("RAY_AUTH_MODE", "token")
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as exc:
        raise UserError(
            f"--address {address}: could not connect to a Ray cluster ({exc}); if it uses token "
            "authentication, this machine needs the cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
        ) from None
    except Exception as exc:
        if "auth" in f"{type(exc).__name__} {exc}".lower():
            raise UserError(
                f"--address {address}: the cluster requires token authentication "
                "(run with RAY_AUTH_MODE=token and the cluster's token in ~/.ray/auth_token)"
            ) from None
        raise


# --- the search ----------------------------------------------------------------------------------


def trial_base(config: GlassConfig, space: SearchSpace, options: TuneOptions) -> dict[str, Any]:
    """Constants every trial receives (``config`` resolved for its category, ``space`` for ``config``).

    Optuna's suggestions are merged over them by name; the trainable checks each trial against them.
    """
    return {
        **config.to_dict(),
        CHECKPOINT_EVERY_KEY: options.checkpoint_every,
        SEARCHED_KEY: list(space.params),
        REPEATS_KEY: options.repeats,
        OBJECTIVE_KEY: options.objective,
    }


def trial_dirname(trial: Any) -> str:
    """Short trial folder names (Ray's default spells out every config key)."""
    return f"trial_{trial.trial_id}"


def _sampler(options: TuneOptions, space: SearchSpace) -> optuna.samplers.BaseSampler:
    return make_sampler(
        kind=options.sampler,
        seed=options.seed,
        samples=options.samples,
        parallel=options.max_concurrent != 1,
        conditional=any(p.condition is not None for p in space.params.values()),
    )


def _trainable(options: TuneOptions):
    from ray import tune

    from trainables.glass import train_glass

    return tune.with_resources(train_glass, {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial})


def _build_tuner(base: GlassConfig, space: SearchSpace, options: TuneOptions, category: str, param_space: dict[str, Any]):
    from ray import tune

    from glass_tune.search.optuna_searcher import GlassOptunaSearch

    objective = objective_of(space)
    searcher = GlassOptunaSearch(
        epochs=base.epochs,
        study_name=study_name(options.name, category),
        slots_key=options.name,
        space=SpaceSampler(space),
        metric=objective.metric,
        mode=objective.mode,
        points_to_evaluate=[dict(p) for p in space.points_to_evaluate] or None,
        sampler=_sampler(options, space),
    )
    return tune.Tuner(
        _trainable(options),
        param_space=param_space,
        tune_config=_tune_config(options, objective, searcher, scheduler=make_scheduler(base, options), trials=options.samples),
        run_config=_run_config(
            options, objective, name=category, storage=options.experiment, label=category, trials=options.samples
        ),
    )


def _tune_config(options: TuneOptions, objective: Objective, searcher: Any, *, scheduler: Any, trials: int):
    """The searcher under --max-concurrent, the scheduler, the objective and short trial names."""
    from ray import tune
    from ray.tune.search import ConcurrencyLimiter

    search_alg = ConcurrencyLimiter(searcher, max_concurrent=options.max_concurrent) if options.max_concurrent else searcher
    return tune.TuneConfig(
        search_alg=search_alg,
        scheduler=scheduler,
        num_samples=trials,
        metric=objective.metric,
        mode=objective.mode,
        trial_dirname_creator=trial_dirname,
        trial_name_creator=trial_dirname,
    )


def _run_config(options: TuneOptions, objective: Objective, *, name: str, storage: Location, label: str, trials: int):
    """Storage, failures, checkpoints and callbacks: the same for a search and its confirmation."""
    from ray import tune

    from glass_tune.search.checkpoint_guard import VanishedCheckpointGuard
    from glass_tune.search.progress import ProgressCallback

    callbacks = [
        VanishedCheckpointGuard(),
        ProgressCallback(category=label, samples=trials, objective=objective),
        trial_events(storage / name, objective, options),
    ]
    return tune.RunConfig(
        name=name,
        storage_path=storage.uri,
        # Trials write TensorBoard events and run/metrics.json into their working directory on
        # whatever node they run; Ray uploads it to the trial's folder in storage.
        sync_config=tune.SyncConfig(sync_artifacts=True, sync_period=30),
        failure_config=tune.FailureConfig(max_failures=options.max_failures),
        checkpoint_config=tune.CheckpointConfig(
            num_to_keep=2, checkpoint_score_attribute=objective.metric, checkpoint_score_order=objective.mode
        ),
        callbacks=callbacks,
        verbose=0,
    )


def trial_events(folder: Location, objective: Objective, options: TuneOptions):
    """The driver's trial event stream of one Ray run (a category or its confirm/ folder) and its sinks."""
    from glass_tune.search.tracking_sink import tracking_sinks
    from glass_tune.search.trial_events import TrialEvents, TrialIndexSink

    sinks = [TrialIndexSink(folder.uri), *tracking_sinks(folder, options)]
    return TrialEvents(metric=objective.metric, mode=objective.mode, sinks=sinks)


def _restored_tuner(options: TuneOptions, category_dir: Location, param_space: dict[str, Any] | None, objective: Objective):
    """Ray's run in ``category_dir`` (a category or its confirm/ folder), continued where it now is.

    Its event stream is made anew, not taken from Ray's pickled callbacks: those name the folder the
    experiment was started in (it may have moved since), and a run started before the trial index has none.
    """
    from ray import tune

    from glass_tune.search.ray_internals import tuner_callbacks
    from glass_tune.search.relocation import relocate_search_state
    from glass_tune.search.trial_events import TrialEvents

    relocate_search_state(category_dir)  # an experiment moved since it started keeps its new trials here
    tuner = tune.Tuner.restore(
        category_dir.uri,
        trainable=_trainable(options),
        param_space=param_space,
        resume_unfinished=True,
        resume_errored=False,
    )
    callbacks = tuner_callbacks(tuner)
    callbacks[:] = [c for c in callbacks if not isinstance(c, TrialEvents)] + [trial_events(category_dir, objective, options)]
    return tuner


# What Ray's first snapshot writes next to tuner.pkl.  Before all of it is there, Tuner.restore cannot
# continue: it starts a new run without the param space, and its trials get only Optuna's suggestion.
_RAY_SNAPSHOT = ("experiment_state-*.json", "search_gen_state-*.json", "searcher-state-*.pkl")


def ray_state_restorable(category_dir: Location) -> bool:
    """Whether Ray's state of a category holds tuner.pkl and a complete first snapshot."""
    names = category_dir.names()
    return "tuner.pkl" in names and all(fnmatch.filter(names, pattern) for pattern in _RAY_SNAPSHOT)


def _category_inputs(
    base: GlassConfig, space: SearchSpace, options: TuneOptions, category: str
) -> tuple[GlassConfig, SearchSpace, dict[str, Any]]:
    """The category's resolved config and space, and the trial constants built from them."""
    from glass_tune.training.run_inputs import resolve_run_config

    config = resolve_run_config(base.replace(category=category))
    if base.data_root is None:  # built-in data: each node generates its own copy, where the trial runs
        config = config.replace(data_root=None)
    space = space.resolve(config)  # per category: e.g. radius_quantile only under svd=1
    return config, space, trial_base(config, space, options)


def _start_or_restore(base: GlassConfig, space: SearchSpace, options: TuneOptions, *, category: str, resume: bool):
    """A Tuner that continues Ray's state of the category, or starts it (over) from the record.

    ``<category>/search_base.json`` is written before Ray starts and kept for the whole search: the
    param space of a fresh start and of a restore, and what every trial is checked against.
    """
    category_dir = options.experiment / category
    if resume and ray_state_restorable(category_dir):
        log.info(f"[{category}] resuming the interrupted search")
        if (category_dir / TRIAL_BASE_FILE).is_file():
            return _restored_tuner(options, category_dir, read_trial_base(category_dir), objective_of(space))
        # started before search_base.json existed: the record gives it; Ray keeps its own param space
        write_trial_base(category_dir, _category_inputs(base, space, options, category)[2])
        return _restored_tuner(options, category_dir, None, objective_of(space))
    if resume and category_dir.exists():
        log.info(f"[{category}] the driver stopped before Ray's first snapshot: starting the category over")
        category_dir.remove_tree()  # Ray cannot restore any of it; stale trial folders would confuse status
    config, space, param_space = _category_inputs(base, space, options, category)
    write_trial_base(category_dir, param_space)
    return _build_tuner(config, space, options, category, param_space)


def search_category(
    base: GlassConfig, space: SearchSpace, options: TuneOptions, *, category: str, resume: bool
) -> CategoryOutcome:
    """Run, resume or (when already finished) just read back one category's search and confirmation."""
    from glass_tune.search.optuna_searcher import reconcile, register_study

    objective = objective_of(space)
    category_dir = options.experiment / category
    store = options.study_store()
    storage = store.open()
    register_study(study_name(options.name, category), storage=storage, on_save=store.upload)
    finished = resume and (category_dir / BEST_CONFIG_FILE).is_file()
    if finished:
        log.info(f"[{category}] already finished; nothing to resume")
    elif resume and (category_dir / FINALISTS_FILE).is_file():
        log.info(f"[{category}] search finished; resuming its confirmation")
    else:
        fit_in_turn(lambda: _start_or_restore(base, space, options, category=category, resume=resume), category)
    trials = load_trials(category_dir=category_dir)
    counts = reconcile(
        storage=storage, study_name=study_name(options.name, category), trials=trials, objective=objective, epochs=base.epochs
    )
    store.upload()
    ended = sum(1 for t in trials if t.outcome.finished)
    if len(trials) < options.samples or ended < len(trials):
        finish_tracking(category_dir, options)  # its runs KILLED, not RUNNING, until --resume
        raise SearchInterrupted(
            f"search of '{category}' interrupted with {ended} of {options.samples} trials finished; "
            f"continue it with: {options.resume_command()}"
        )
    outcome = summarize(trials, category=category, objective=objective)
    if outcome.best_trial is not None:
        if options.confirming and not finished:
            _confirm(base, space, options, category_dir=category_dir, trials=trials, objective=objective)
        outcome.confirmation = read_confirmation(category_dir)
        outcome.best_config_path = str(write_best_config(category_dir=category_dir, objective=objective, trials=trials))
    log.info(f"[{category}] study {store.describe()}: " + ", ".join(f"{n} {k.lower()}" for k, n in sorted(counts.items())))
    finish_tracking(category_dir, options)
    return outcome


def paper_default_config(base: GlassConfig, space: SearchSpace, template: dict[str, Any]) -> dict[str, Any]:
    """The trial config of the paper default: a search trial's config with every searched value
    taken from the space's first starting point (resolved for the category), else from the base."""
    run = from_mapping({k: v for k, v in template.items() if k in FIELD_NAMES}, source="trial config")
    points = space.resolve(run).points_to_evaluate
    point = points[0] if points else {}
    values = base.to_dict()
    return {**template, **{k: point.get(k, values[k]) for k in template.get("searched", [])}}


def _confirm(
    base: GlassConfig, space: SearchSpace, options: TuneOptions, *, category_dir: Location, trials, objective: Objective
) -> None:
    """The finalists of a finished search, raced on fresh seeds (see glass_tune.search.confirm)."""
    from ray import tune
    from ray.tune.schedulers import FIFOScheduler

    from glass_tune.search.confirm import FixedTrials, fix_finalists, run_confirmation, split_common
    from glass_tune.search.protocol import VARIED_KEY

    category = category_dir.name
    finalists, seeds = fix_finalists(
        category_dir,
        trials=trials,
        objective=objective,
        default_config=paper_default_config(base, space, trials[0].config),
        top=options.confirm_top,
        seeds=options.confirm_seeds,
        export_rule=options.confirm_export,
    )
    label = f"{category}/{CONFIRM_DIR}"

    folder = category_dir / CONFIRM_DIR

    def start(configs: list[dict[str, Any]]):
        """Restore the confirmation's Ray state, or start it (over: Ray cannot restore a state
        younger than its first snapshot) with the shared values as its recorded trial base."""
        if ray_state_restorable(folder):
            log.info(f"[{category}] resuming the confirmation ({len(configs)} trials)")
            return _restored_tuner(options, folder, read_trial_base(folder), objective)
        if folder.exists():
            folder.remove_tree()
        common, suggestions = split_common(configs)
        trial_base = {**common, VARIED_KEY: ["seed"]}  # the seed differs between the runs of a finalist
        write_trial_base(folder, trial_base)
        searcher = FixedTrials(suggestions, metric=objective.metric, mode=objective.mode, slots_key=options.name)
        return tune.Tuner(
            _trainable(options),
            param_space=trial_base,
            # FIFO: every seed trains all epochs, so like is compared with like
            tune_config=_tune_config(options, objective, searcher, scheduler=FIFOScheduler(), trials=len(configs)),
            run_config=_run_config(options, objective, name=CONFIRM_DIR, storage=category_dir, label=label, trials=len(configs)),
        )

    run_confirmation(
        category_dir=category_dir,
        finalists=finalists,
        seeds=seeds,
        objective=objective,
        start=start,
        fit=lambda make: fit_in_turn(make, label),
        resume_command=options.resume_command(),
        export_rule=read_export_rule(category_dir),
    )


def save_search_record(base: GlassConfig, space: SearchSpace, options: TuneOptions, categories: Sequence[str]) -> None:
    record = {
        "options": asdict(options),
        "started_at": timestamp_text(time.time()),
        "categories": list(categories),
        "space": space.to_dict(),
        "base_config": base.to_dict(),
    }
    (options.experiment / SEARCH_FILE).write_text(yaml.safe_dump(record, sort_keys=False))


def load_search_record(
    options: TuneOptions, *, explicit: Sequence[str] = ()
) -> tuple[GlassConfig, SearchSpace, TuneOptions, list[str]]:
    """What an interrupted search was asked to do.

    Storage and address come from this call (an experiment moved to another storage resumes where
    it now is); resources stay as recorded unless named in ``explicit`` (flags the user gave on the
    command line), so a GPU search resumes on GPUs. The name must be the recorded one: the studies
    and Ray's saved searchers carry it.
    """
    record = read_search_record(experiment=options.experiment)
    saved = record["options"]
    if saved.get("name", options.name) != options.name:
        raise UserError(
            f"{options.experiment}: the experiment was started as '{saved['name']}' and its studies carry that name; "
            f"rename the folder back to {saved['name']} and resume it with --name {saved['name']}"
        )
    known = {f.name for f in fields(TuneOptions)}
    merged = {k: v for k, v in saved.items() if k in known}
    merged.setdefault("confirm_export", LEGACY_EXPORT_RULE)  # recorded before the rule was a choice
    merged.update(address=options.address, storage=options.storage)
    if options.optuna_storage:
        merged["optuna_storage"] = options.optuna_storage
    for key in (*RESOURCE_FLAGS, *TRACKING_FLAGS):
        if key in explicit:
            merged[key] = getattr(options, key)
    space = space_from_record(record["space"], source=f"{options.experiment / SEARCH_FILE}: space")
    base = from_mapping(record["base_config"], source=str(options.experiment / SEARCH_FILE))
    return base, space, TuneOptions(**merged), list(record["categories"])


def run_search(
    *,
    base: GlassConfig,
    space: SearchSpace,
    options: TuneOptions,
    categories: Sequence[str],
    resume: bool = False,
) -> list[CategoryOutcome]:
    """Search every category at once; the summary is written when all have ended.

    The experiment record is written only once Ray and the storage are known to work.
    """
    from glass_tune.search.concurrency import register_total_limit
    from glass_tune.training.run_inputs import texture_notice

    options.validate()
    check_tracking(options)
    options.experiment.parent.check_writable()
    quiet_libraries()
    texture_notice(base)  # once per search (trials keep their notices to themselves), also on --resume
    connect_ray(options)
    if not resume:
        save_search_record(base, space, options, categories)
    register_total_limit(options.name, options.max_concurrent_total)
    if len(categories) == 1:
        outcomes = [search_category(base, space, options, category=categories[0], resume=resume)]
    else:
        outcomes = _search_concurrently(base, space, options, categories=categories, resume=resume)
    write_summary(experiment=options.experiment, outcomes=outcomes)
    return outcomes


class SearchFailed(UserError):
    """A category ended with no finished trial (every one errored), so nothing was exported for it.

    Exit 1, not 2: the inputs were accepted, the search ran and failed (``glass-tune status`` says why).
    """

    exit_code = 1


def search_end(outcomes: Sequence[CategoryOutcome], *, experiment: str) -> tuple[int, str]:
    """The exit code and last line of a search that ran to its end: per category its trials and how
    many errored; 1 when a category has no finished trial (nothing exported for it), else 0."""
    parts = [
        f"{o.category}: {o.trials} trials, {len(o.errors)} errored" + ("" if o.best_trial else ", nothing exported")
        for o in outcomes
    ]
    see = f" (see glass-tune status {shlex.quote(experiment)})" if any(o.errors for o in outcomes) else ""
    return int(any(o.best_trial is None for o in outcomes)), "; ".join(parts) + see


def _search_concurrently(
    base: GlassConfig, space: SearchSpace, options: TuneOptions, *, categories: Sequence[str], resume: bool
) -> list[CategoryOutcome]:
    """One thread per category, each driving its own Tuner (own study, own scheduler).

    Ray Tune runs from worker threads (it then leaves SIGINT alone): Ctrl-C stops this driver as a
    crash would, which ``--resume`` is built for.  Ray's trainable registry is not thread-safe, so
    each search is started once the previous one has set up its Tune run.
    """
    from glass_tune.search.progress import started_event

    ended: dict[str, CategoryOutcome | BaseException] = {}

    def work(category: str) -> None:
        try:
            ended[category] = search_category(base, space, options, category=category, resume=resume)
        except BaseException as exc:  # handed to the main thread below
            ended[category] = exc

    threads = [threading.Thread(target=work, args=(c,), name=f"search-{c}", daemon=True) for c in categories]
    try:
        for category, thread in zip(categories, threads, strict=True):
            started = started_event(category)
            started.clear()
            thread.start()
            while thread.is_alive() and not started.wait(timeout=0.5):
                pass
        for thread in threads:
            while thread.is_alive():
                thread.join(timeout=0.5)
    except KeyboardInterrupt:
        raise SearchInterrupted(f"search interrupted; continue it with: {options.resume_command()}") from None
    failures = [ended[c] for c in categories if isinstance(ended[c], BaseException)]
    user_errors = [e for e in failures if isinstance(e, UserError) and not isinstance(e, SearchInterrupted)]
    if user_errors or failures:
        raise (user_errors or failures)[0]
    return [ended[c] for c in categories]
