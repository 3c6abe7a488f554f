"""The search service: Ray Tune runs GLASS trainings as trials, Optuna proposes the hyperparameters.

One search per category.  Layout of an experiment folder ``<storage>/<name>/``::

    search.yaml        what was asked (base config, space, options): --resume reads it back
    optuna.db          the Optuna study of every category (SQLite unless --optuna-storage)
    <category>/        Ray's experiment folder (one sub-folder per trial, TensorBoard events inside)
    <category>/best_config.yaml   the exported best config, written when the category finishes
    summary.csv, summary.md       one row per category
"""

from __future__ import annotations

import os
import socket
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna
import yaml

from glass_tune.config import GlassConfig, from_mapping, parse_override
from glass_tune.errors import ConfigError, UserError
from glass_tune.export import BEST_CONFIG_FILE, METRIC, write_best_config, write_summary
from glass_tune.io import atomic_write_text
from glass_tune.objective import DEFAULT_OBJECTIVE, DEFAULT_REPEATS, OBJECTIVE_KEY, REPEATS_KEY, check_objective
from glass_tune.search_space import SearchSpace, SpaceSampler, load_search_space
from glass_tune.strategy import DEFAULT_SAMPLER, SAMPLERS, grace_period, make_sampler

SEARCH_FILE = "search.yaml"


class SearchInterrupted(UserError):
    """Ctrl-C (or a stop) left trials unfinished: nothing is exported, ``--resume`` continues."""

    exit_code = 130


@dataclass(frozen=True)
class TuneOptions:
    """How the search runs (not what GLASS trains): sizes, scheduler, resources, storage."""

    name: str
    storage: str
    samples: int = 8
    scheduler: str = "asha"
    grace_period: int | None = None  # None: strategy.grace_period (a fraction of the epochs)
    reduction_factor: int = 2
    max_concurrent: int | None = None
    cpus_per_trial: float = 1.0
    gpus_per_trial: float = 0.0
    address: str | None = None
    seed: int = 0
    optuna_storage: str | None = None
    max_failures: int = 0
    checkpoint_every: int = 5
    sampler: str = DEFAULT_SAMPLER
    objective: str = DEFAULT_OBJECTIVE
    repeats: int = DEFAULT_REPEATS

    @property
    def experiment_dir(self) -> Path:
        return Path(self.storage).expanduser().resolve() / self.name

    def study_storage_url(self) -> str:
        return self.optuna_storage or f"sqlite:///{self.experiment_dir / 'optuna.db'}"

    def validate(self) -> None:
        """One-line errors before Ray starts."""
        checks = [
            (self.samples >= 1, f"--samples {self.samples}: expected at least 1"),
            (self.scheduler in ("asha", "fifo"), f"--scheduler {self.scheduler}: expected asha or fifo"),
            (self.grace_period is None or self.grace_period >= 1, f"--grace-period {self.grace_period}: expected at least 1"),
            (self.sampler in SAMPLERS, f"--sampler {self.sampler}: expected one of {', '.join(SAMPLERS)}"),
            (self.reduction_factor >= 2, f"--reduction-factor {self.reduction_factor}: expected at least 2"),
            (self.cpus_per_trial > 0, f"--cpus-per-trial {self.cpus_per_trial}: expected a positive number"),
            (self.gpus_per_trial >= 0, f"--gpus-per-trial {self.gpus_per_trial}: expected 0 or more"),
            (self.max_concurrent is None or self.max_concurrent >= 1, "--max-concurrent: expected at least 1"),
            (self.checkpoint_every >= 1, "--checkpoint-every: expected at least 1"),
            (bool(self.name) and "/" not in self.name, f"--name {self.name!r}: expected a folder name without '/'"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        check_objective(objective=self.objective, repeats=self.repeats)


@dataclass
class CategoryOutcome:
    """The result of one category's search, as the summary and the export need it."""

    category: str
    best_trial: str | None
    best: dict[str, Any]
    params: dict[str, Any]
    trials: int
    stopped_early: int
    errors: list[str] = field(default_factory=list)
    best_config_path: Path | None = None


def reject_searched_overrides(space: SearchSpace, overrides: Sequence[str]) -> None:
    """``--set step=5`` while the space searches ``step`` would be silently ignored: say so instead."""
    for text in overrides:
        key = parse_override(text)[0]
        if key in space.params:
            raise ConfigError(f"--set {key}: '{key}' is searched by space '{space.name}'; fix it in the space's 'fixed' block instead")


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
    print(f"connected to {where}: {resources.get('CPU', 0):g} CPU, {gpus:g} GPU", flush=True)


def _init_ray(address: str | None) -> None:
    import ray

    kwargs: dict[str, Any] = {"include_dashboard": False, "configure_logging": False}
    if address is None:
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


# --- Optuna study bookkeeping ------------------------------------------------------------------

def study_name(options: TuneOptions, category: str) -> str:
    return f"{options.name}/{category}"


def fail_orphaned_trials(options: TuneOptions, category: str) -> int:
    """Mark study trials still RUNNING after a resumed search has finished as FAIL.

    Ray resumes the trials it knows and reports them to their own Optuna trials, so those end
    COMPLETE by themselves (failing them first would break that).  What is still RUNNING once the
    resumed search is over was asked of Optuna just before the driver died and never reached Ray.
    """
    storage = optuna.storages.RDBStorage(options.study_storage_url())
    try:
        study_id = storage.get_study_id_from_name(study_name(options, category))
    except KeyError:
        return 0
    running = [
        t for t in storage.get_all_trials(study_id, deepcopy=False) if t.state == optuna.trial.TrialState.RUNNING
    ]
    for t in running:
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        storage.set_trial_system_attr(trial_id, "fail_reason", "driver interrupted before the trial reached Ray")
        storage.set_trial_state_values(trial_id, optuna.trial.TrialState.FAIL)
    return len(running)


# --- the search ----------------------------------------------------------------------------------

def _trial_space(base: GlassConfig, space: SearchSpace, options: TuneOptions) -> dict[str, Any]:
    """Constants every trial receives; Optuna's suggestions are merged over them by name."""
    from trainables.glass import CHECKPOINT_EVERY_KEY, SEARCHED_KEY

    values = base.to_dict()
    values[CHECKPOINT_EVERY_KEY] = options.checkpoint_every
    values[SEARCHED_KEY] = list(space.params)
    return values


def trial_dirname(trial: Any) -> str:
    """Short trial folder names (Ray's default spells out every config key)."""
    return f"trial_{trial.trial_id}"


def _build_tuner(base: GlassConfig, space: SearchSpace, options: TuneOptions, category: str):
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler
    from ray.tune.search import ConcurrencyLimiter
    from ray.tune.search.optuna import OptunaSearch

    from glass_tune.tune_progress import ProgressCallback
    from trainables.glass import train_glass

    space = space.resolve(base)  # per category: e.g. radius_quantile only under svd=1
    searcher = OptunaSearch(
        space=SpaceSampler(space),
        metric=METRIC,
        mode=space.mode,
        points_to_evaluate=[dict(p) for p in space.points_to_evaluate] or None,
        sampler=make_sampler(
            kind=options.sampler,
            seed=options.seed,
            samples=options.samples,
            parallel=options.max_concurrent != 1,
            conditional=any(p.condition is not None for p in space.params.values()),
        ),
        study_name=study_name(options, category),
        storage=optuna.storages.RDBStorage(options.study_storage_url()),
    )
    search_alg = ConcurrencyLimiter(searcher, max_concurrent=options.max_concurrent) if options.max_concurrent else searcher
    if options.scheduler == "asha":
        scheduler = ASHAScheduler(
            time_attr="epoch",
            max_t=base.epochs,
            grace_period=grace_period(epochs=base.epochs, eval_interval=base.eval_interval, explicit=options.grace_period),
            reduction_factor=options.reduction_factor,
        )
    else:
        scheduler = FIFOScheduler()
    resources = {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial}
    return tune.Tuner(
        tune.with_resources(train_glass, resources),
        param_space={**_trial_space(base, space, options), REPEATS_KEY: options.repeats, OBJECTIVE_KEY: options.objective},
        tune_config=tune.TuneConfig(
            search_alg=search_alg,
            scheduler=scheduler,
            num_samples=options.samples,
            metric=METRIC,
            mode=space.mode,
            trial_dirname_creator=trial_dirname,
            trial_name_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=category,
            storage_path=str(options.experiment_dir),
            failure_config=tune.FailureConfig(max_failures=options.max_failures),
            checkpoint_config=tune.CheckpointConfig(
                num_to_keep=2, checkpoint_score_attribute=METRIC, checkpoint_score_order=space.mode
            ),
            callbacks=[ProgressCallback(category=category, samples=options.samples, mode=space.mode)],
            verbose=0,
        ),
    )


def _restored_tuner(options: TuneOptions, exp_dir: Path):
    from ray import tune

    from trainables.glass import train_glass

    trainable = tune.with_resources(train_glass, {"cpu": options.cpus_per_trial, "gpu": options.gpus_per_trial})
    return tune.Tuner.restore(str(exp_dir), trainable=trainable, resume_unfinished=True, resume_errored=False)


def search_category(
    base: GlassConfig, space: SearchSpace, options: TuneOptions, *, category: str, resume: bool
) -> CategoryOutcome:
    """Run, resume or (when already finished) just read back one category's search."""
    from ray import tune

    from glass_tune.run_data import resolve_run_config

    exp_dir = options.experiment_dir / category
    restorable = resume and tune.Tuner.can_restore(str(exp_dir))
    if restorable and (exp_dir / BEST_CONFIG_FILE).is_file():
        print(f"[{category}] already finished; nothing to resume", flush=True)
        outcome = summarize_results(_restored_tuner(options, exp_dir).get_results(), category=category, space=space)
        outcome.best_config_path = exp_dir / BEST_CONFIG_FILE
        return outcome
    if restorable:
        print(f"[{category}] resuming the interrupted search", flush=True)
        grid = _restored_tuner(options, exp_dir).fit()
        orphans = fail_orphaned_trials(options, category)
        if orphans:
            print(f"[{category}] {orphans} Optuna trial(s) that never reached Ray marked failed", flush=True)
    else:
        config = resolve_run_config(base.replace(category=category))
        grid = _build_tuner(config, space, options, category).fit()
    finished = grid.num_terminated + grid.num_errors
    if len(grid) < options.samples or finished < len(grid):
        raise SearchInterrupted(
            f"search of '{category}' interrupted with {finished} of {options.samples} trials finished; "
            f"continue it with: glass-tune tune --resume --name {options.name} --storage {options.storage}"
        )
    outcome = summarize_results(grid, category=category, space=space)
    if outcome.best_trial is not None:
        outcome.best_config_path = write_best_config(exp_dir)
    return outcome


def error_message(error: BaseException) -> str:
    """The trial's own exception in one line, not Ray's wrapper around it."""
    cause = getattr(error, "cause", None) or error
    lines = [line for line in str(cause).strip().splitlines() if line.strip()]
    return f"{type(cause).__name__}: {lines[-1] if lines else ''}"


def summarize_results(grid: Any, *, category: str, space: SearchSpace) -> CategoryOutcome:
    """Best trial (by best-so-far score), counts of early-stopped and errored trials."""
    errors = [f"{Path(r.path).name}: {error_message(r.error)}" for r in grid if r.error is not None]
    finished = [r for r in grid if r.error is None and r.metrics and METRIC in r.metrics]
    stopped = sum(1 for r in finished if r.metrics.get("epoch", 0) < r.config.get("epochs", 0))
    if not finished:
        return CategoryOutcome(category, None, {}, {}, len(grid), stopped, errors)
    sign = 1 if space.mode == "max" else -1
    best = max(finished, key=lambda r: sign * r.metrics[METRIC])
    return CategoryOutcome(
        category=category,
        best_trial=Path(best.path).name,
        best={k.removeprefix("best_"): v for k, v in best.metrics.items() if k.startswith("best_")},
        params={k: best.config[k] for k in space.params if k in best.config},
        trials=len(grid),
        stopped_early=stopped,
        errors=errors,
    )


def save_search_record(base: GlassConfig, space: SearchSpace, options: TuneOptions, categories: Sequence[str]) -> None:
    record = {
        "options": asdict(options),
        "categories": list(categories),
        "space": space.to_dict(),
        "base_config": base.to_dict(),
    }
    atomic_write_text(options.experiment_dir / SEARCH_FILE, yaml.safe_dump(record, sort_keys=False))


def load_search_record(options: TuneOptions) -> tuple[GlassConfig, SearchSpace, TuneOptions, list[str]]:
    """What an interrupted search was asked to do; resource and address flags may change on resume."""
    path = options.experiment_dir / SEARCH_FILE
    if not path.is_file():
        raise UserError(f"{options.experiment_dir}: no experiment to resume (missing {SEARCH_FILE})")
    record = yaml.safe_load(path.read_text(encoding="utf-8"))
    saved = TuneOptions(**record["options"])
    merged = TuneOptions(
        **{**asdict(saved), "address": options.address, "storage": options.storage,
           "cpus_per_trial": options.cpus_per_trial, "gpus_per_trial": options.gpus_per_trial}
    )
    space = load_search_space(record["space"]["source"]) if record["space"].get("source") else load_search_space(record["space"]["name"])
    base = from_mapping(record["base_config"], source=str(path))
    return base, space, merged, list(record["categories"])


def run_search(
    *,
    base: GlassConfig,
    space: SearchSpace,
    options: TuneOptions,
    categories: Sequence[str],
    resume: bool = False,
) -> list[CategoryOutcome]:
    """Search every category in turn; write the summary table when all have run."""
    options.validate()
    connect_ray(options)
    outcomes = [search_category(base, space, options, category=c, resume=resume) for c in categories]
    write_summary(options.experiment_dir, outcomes)
    return outcomes
