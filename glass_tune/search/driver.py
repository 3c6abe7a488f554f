"""The search service: Ray Tune runs GLASS trainings as trials, Optuna proposes the hyperparameters.

One search per category, each followed by its confirmation; the categories run at once. Layout of
an experiment ``<storage>/<name>/`` (a folder, a shared mount or an object-store prefix; see
:mod:`glass_tune.experiment.storage`)::

    search.yaml        what was asked (base config, space, options): --resume reads it back
    optuna.journal     the Optuna studies of every category (unless --optuna-storage; see glass_tune.search.optuna_searcher)
    <category>/        Ray's experiment (one sub-folder per trial, TensorBoard events inside)
    <category>/search_base.json    what every trial gets besides its suggestion (written before Ray starts)
    <category>/index/trials.json       glass-tune's plain index of the trials (what every reader reads; glass_tune.search.trial_events)
    <category>/finalists.json     the confirmation's finalists and seeds, fixed when the search ends
    <category>/confirm/           the confirmation's Ray experiment (finalists x fresh seeds)
    <category>/confirmation.json  the finalists' intervals and the verdict against the paper default
    <category>/best_config.yaml   the exported config, written when the category finishes
    summary.csv, summary.md       one row per category

The pieces: what a search will do (:mod:`glass_tune.search.plan`), the connection to Ray
(:mod:`glass_tune.search.cluster`), one Tuner start-or-restore (:mod:`glass_tune.search.tuner`),
the confirmation (:mod:`glass_tune.search.confirmation_runner`); this module is the per-category flow.
"""

from __future__ import annotations

import functools
import shlex
import threading
from collections.abc import Sequence
from typing import Any

from glass_tune.config.schema import GlassConfig
from glass_tune.experiment.best_config import BEST_CONFIG_FILE, write_best_config
from glass_tune.experiment.confirmation import FINALISTS_FILE, read_confirmation
from glass_tune.experiment.protocol import CHECKPOINT_EVERY_KEY, REPEATS_KEY, SCORE_RULE_KEY, SEARCHED_KEY, Objective
from glass_tune.experiment.results import CategoryOutcome, load_trials, study_name, summarize, write_summary
from glass_tune.search.options import SearchInterrupted, TuneOptions
from glass_tune.search.progress import fit_in_turn
from glass_tune.search.space import SearchSpace, SpaceSampler
from glass_tune.search.tracking_sink import check_tracking, finish_tracking
from glass_tune.search.tuner import new_tuner, start_or_restore
from glass_tune.util.errors import UserError
from glass_tune.util.legacy_names import moved_names
from glass_tune.util.logs import get_logger

log = get_logger(__name__)
__getattr__ = moved_names(__name__)  # trial_dirname, pickled here by experiments before it moved (util/legacy_names.py)


def objective_of(space: SearchSpace) -> Objective:
    """The space file names what is optimised and in which direction."""
    return Objective(metric=space.metric, mode=space.mode)


def trial_base(config: GlassConfig, space: SearchSpace, options: TuneOptions) -> dict[str, Any]:
    """Constants every trial receives (``config`` resolved for its category, ``space`` for ``config``).

    Optuna's suggestions are merged over them by name; the trainable checks each trial against them.
    """
    return {
        **config.to_dict(),
        CHECKPOINT_EVERY_KEY: options.checkpoint_every,
        SEARCHED_KEY: list(space.params),
        REPEATS_KEY: options.repeats,
        SCORE_RULE_KEY: options.objective,
    }


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


def search_tuner(config: GlassConfig, space: SearchSpace, options: TuneOptions, category: str, param_space: dict[str, Any]):
    """A new Tuner of one category's search: Optuna's searcher over the space, the scheduler, ``options.samples`` trials."""
    from glass_tune.search.optuna_searcher import GlassOptunaSearch
    from glass_tune.search.samplers import make_sampler
    from glass_tune.search.schedulers import make_scheduler

    objective = objective_of(space)
    sampler = make_sampler(
        kind=options.sampler,
        seed=options.seed,
        samples=options.samples,
        parallel=options.max_concurrent != 1,
        conditional=any(p.condition is not None for p in space.params.values()),
    )
    searcher = GlassOptunaSearch(
        epochs=config.epochs,
        study_name=study_name(options.name, category),
        slots_key=options.name,
        space=SpaceSampler(space),
        metric=objective.metric,
        mode=objective.mode,
        points_to_evaluate=[dict(p) for p in space.points_to_evaluate] or None,
        sampler=sampler,
    )
    return new_tuner(
        options,
        objective,
        storage=options.experiment,
        name=category,
        label=category,
        param_space=param_space,
        searcher=searcher,
        scheduler=make_scheduler(
            options.scheduler,
            epochs=config.epochs,
            eval_interval=config.eval_interval,
            grace=options.grace_period,
            reduction_factor=options.reduction_factor,
        ),
        trials=options.samples,
    )


def start_search(base: GlassConfig, space: SearchSpace, options: TuneOptions, *, category: str, resume: bool):
    """The Tuner of a category's search: Ray's state continued, or the search started (over) from the record."""
    inputs = functools.cache(lambda: _category_inputs(base, space, options, category))
    return start_or_restore(
        options.experiment / category,
        options=options,
        objective=objective_of(space),
        resume=resume,
        resuming=f"[{category}] resuming the interrupted search",
        starting_over=f"[{category}] the driver stopped before Ray's first snapshot: starting the category over",
        trial_base=lambda: inputs()[2],
        start=lambda param_space: search_tuner(inputs()[0], inputs()[1], options, category, param_space),
    )


def search_category(
    base: GlassConfig, space: SearchSpace, options: TuneOptions, *, category: str, resume: bool
) -> CategoryOutcome:
    """Run, resume or (when already finished) just read back one category's search and confirmation."""
    from glass_tune.search.confirmation_runner import confirm_category
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
        fit_in_turn(lambda: start_search(base, space, options, category=category, resume=resume), category)
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
            confirm_category(base, space, options, category_dir=category_dir, trials=trials, objective=objective)
        outcome.confirmation = read_confirmation(category_dir)
        outcome.best_config_path = str(write_best_config(category_dir=category_dir, objective=objective, trials=trials))
    log.info(f"[{category}] study {store.describe()}: " + ", ".join(f"{n} {k.lower()}" for k, n in sorted(counts.items())))
    finish_tracking(category_dir, options)
    return outcome


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
    from glass_tune.search.cluster import connect_ray, quiet_libraries
    from glass_tune.search.concurrency import register_total_limit
    from glass_tune.search.plan import save_search_record
    from glass_tune.training.run_inputs import texture_notice

    options.validate()
    check_tracking(options)
    options.experiment.parent.check_writable()
    quiet_libraries()
    texture_notice(base)  # once per search (trials keep their notices to themselves), also on --resume
    connect_ray(options)
    if not resume:
        save_search_record(base=base, space=space, options=options, categories=categories)
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
