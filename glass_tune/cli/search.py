"""``glass-tune tune``: the search on Ray Tune + Optuna, and the flags that ``submit`` shares with it.

The search options' defaults live in :class:`glass_tune.search.options.TuneOptions`: the flags here
default to None ("not given") and ``--help`` shows the field's default, so a default is written once.
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
from typing import Any

from glass_tune.cli.common import (
    add_categories_flag,
    add_device_flag,
    add_layout_flags,
    add_source_flags,
    add_verb,
    checked,
    config_default,
    config_flag,
    config_from_args,
)
from glass_tune.cli.tracking import add_register_flag, add_tracking_flags, log_registered
from glass_tune.experiment.score_rules import SCORE_RULES
from glass_tune.search.options import (
    DEFAULT_STORAGE,
    EXPORT_RULES,
    TuneOptions,
    default_name,
    option_default,
    option_rule,
)
from glass_tune.search.samplers import SAMPLERS
from glass_tune.search.schedulers import SCHEDULERS
from glass_tune.tracking.tracker import tracking_uri
from glass_tune.util.errors import UserError
from glass_tune.util.logs import get_logger

log = get_logger(__name__)


def tune_options(args: argparse.Namespace) -> tuple[TuneOptions, list[str]]:
    """The search options the flags ask for, and the names of those given on the command line."""
    given: dict[str, Any] = {f.name: getattr(args, f.name, None) for f in dataclasses.fields(TuneOptions)}
    given["mlflow"] = tracking_uri(given["mlflow"])
    explicit = [k for k, v in given.items() if v is not None]
    given["name"] = args.name or default_name()
    return TuneOptions.from_given(given), explicit


def cmd_tune(args: argparse.Namespace) -> int:
    from glass_tune.search.driver import SearchFailed, run_search, search_end
    from glass_tune.search.plan import new_search, resumed_search
    from glass_tune.training.console import format_metrics
    from glass_tune.training.run_inputs import resolve_data_root

    options, explicit = tune_options(args)
    if args.resume:
        if not args.name:
            raise UserError("--resume needs --name NAME of the experiment to continue")
        plan = resumed_search(options, explicit=explicit)
    else:
        plan = new_search(
            options,
            space=args.space,
            config=lambda fixed: config_from_args(args, fixed=fixed),
            overrides=args.set or (),
            categories=args.category,
        )
    base, options = plan.base, plan.options
    if args.register and options.mlflow is None:
        raise UserError("--register needs a tracking server: pass --mlflow URI or set MLFLOW_TRACKING_URI")
    outcomes = run_search(base=base, space=plan.space, options=options, categories=plan.categories, resume=plan.resume)
    exp = options.experiment
    for o in outcomes:
        if o.best_trial is None:
            log.info(f"[{o.category}] no trial finished ({len(o.errors)} errored)")
            continue
        log.info(f"[{o.category}] best trial {o.best_trial} (score {o.best.get('score'):.4f}): {format_metrics(o.best)}")
        if o.confirmation is not None:
            from glass_tune.experiment.intervals import finalists_table

            log.info(f"[{o.category}] finalists on fresh seeds {o.confirmation['seeds']}:")
            for line in finalists_table(o.confirmation):
                log.info(f"[{o.category}]   {line}")
            log.info(f"[{o.category}] verdict: {o.verdict}")
        log.info(f"[{o.category}] exported config: {o.best_config_path}")
        for err in o.errors:
            log.info(f"[{o.category}] errored trial {err}")
    log.info(f"summary: {exp / 'summary.md'}")
    best = next((o for o in outcomes if o.best_trial is not None), None)
    log.info("next (in a shell where .venv is activated: . .venv/bin/activate):")
    for line in _next_commands(str(exp), best.category if best else None, str(resolve_data_root(base))):
        log.info(f"  {line}")
    code, last = search_end(outcomes, experiment=str(exp))
    if args.register:
        from glass_tune.export.registry import register_exported
        from glass_tune.search.tracking_sink import tracker_settings

        exported = [o.category for o in outcomes if o.best_trial is not None]
        settings = tracker_settings(options)
        log_registered(register_exported(experiment=str(exp), name=args.register, settings=settings, categories=exported))
    if code:
        raise SearchFailed(last)
    (log.warning if any(o.errors for o in outcomes) else log.info)(last)
    return 0


def _next_commands(exp: str, category: str | None, data_root: str) -> list[str]:
    """What a user runs after a search, each as it can be pasted: progress, report, dashboards, model."""
    q = shlex.quote
    lines = [f"glass-tune status {q(exp)}", f"glass-tune report {q(exp)}", f"glass-tune dashboard {q(exp)}"]
    if category is not None:
        model = f"{exp}/{category}/model.onnx"
        lines += [
            f"glass-tune export {q(exp)} --category {q(category)} --format onnx --out {q(model)}",
            f"glass-tune predict --onnx {q(model)} {q(data_root)}/{q(category)}/test/*/*.png --out {q(exp + '/' + category + '/predictions')}",
        ]
    return [*lines, f"tensorboard --logdir {q(exp)}"]


def _add_option(p: argparse.ArgumentParser, flag: str, *, help: str, **kwargs: Any) -> None:
    """A flag of a :class:`TuneOptions` field: not given = None, ``--help`` shows the field's default, and
    a numeric field's flag checks its number by the field's rule."""
    name = flag.removeprefix("--").replace("-", "_")
    rule = option_rule(name)
    if rule is not None:
        kwargs["type"] = checked(rule)
    default = option_default(name)
    p.add_argument(flag, help=help if "default" in help else f"{help} (default: {default})", **kwargs)


def add_tune_flags(p: argparse.ArgumentParser, *, job: bool) -> None:
    """Every flag of a search; ``job``: for ``submit``, which adds its own --address and --storage."""
    add_source_flags(p, config_help="YAML base config for every trial (default: the built-in defaults)")
    add_categories_flag(p, verb="search")
    p.add_argument("--space", default="default", metavar="NAME|FILE", help="search space: a bundled name or a YAML file")
    _add_option(p, "--samples", metavar="N", help="trials per category")
    p.add_argument("--epochs", type=config_flag("epochs"), metavar="E", help=f"epochs per trial ({config_default('epochs')})")
    _add_option(p, "--scheduler", choices=SCHEDULERS, help="early stopping: ASHA, or none (fifo)")
    _add_option(
        p,
        "--grace-period",
        metavar="E",
        help="ASHA: epochs before a trial may stop (default: a quarter of the epochs, at least 3 evaluations)",
    )
    _add_option(p, "--reduction-factor", metavar="F", help="ASHA: keep 1/F of the trials at each rung")
    _add_option(p, "--max-concurrent", metavar="K", help="at most K trials at once per category (default: no limit)")
    _add_option(
        p,
        "--max-concurrent-total",
        metavar="K",
        help="at most K trials at once over all categories, which are searched concurrently (default: no limit)",
    )
    _add_option(p, "--cpus-per-trial", metavar="C", help="CPUs per trial; --resume keeps the recorded value")
    _add_option(
        p,
        "--gpus-per-trial",
        metavar="G",
        help="GPUs per trial, fractions share a GPU; --resume keeps the recorded value",
    )
    if not job:
        _add_option(
            p, "--address", metavar="auto|HOST:PORT|ray://HOST:PORT", help="an existing Ray cluster (default: a local Ray)"
        )
        _add_option(
            p,
            "--storage",
            metavar="DIR|URI",
            help="experiments folder, shared on a cluster (NFS path or s3://bucket/prefix, gs://...)",
        )
    p.add_argument("--name", metavar="NAME", help="experiment name (default: tune-<time>)")
    _add_option(p, "--seed", metavar="S", help="seed of the trials and of the Optuna sampler")
    add_device_flag(p)
    _add_option(
        p, "--optuna-storage", metavar="URL", help="Optuna storage as an RDB URL (default: a journal file in the experiment)"
    )
    _add_option(p, "--max-failures", metavar="N", help="retries of a failed trial")
    _add_option(p, "--checkpoint-every", metavar="K", help="also checkpoint every K evaluations")
    p.add_argument("--resume", action="store_true", help="continue the interrupted experiment --name")
    add_layout_flags(p)
    _add_option(
        p, "--sampler", choices=SAMPLERS, help="Optuna sampler; random start-up trials: a quarter of --samples, at least 2"
    )
    _add_option(
        p,
        "--objective",
        choices=SCORE_RULES,
        help="best: best validation score over epochs; smoothed: mean of the best 3 (optimised as 'objective')",
    )
    _add_option(
        p,
        "--repeats",
        metavar="K",
        help="train each configuration with K seeds in lockstep, optimise their per-epoch mean",
    )
    _add_option(
        p,
        "--confirm-top",
        metavar="K",
        help="after each search, race its top K configs and the paper's configuration on fresh seeds; 0: off",
    )
    _add_option(p, "--confirm-seeds", metavar="S", help="seeds per finalist in that race, (K + 1) x S trainings; 0: off")
    _add_option(
        p,
        "--confirm-export",
        choices=EXPORT_RULES,
        help="best-mean: export the race's winner (best mean over the seeds), proven or not; "
        "significant: only when its interval against the paper configuration excludes zero, else that configuration",
    )
    add_tracking_flags(p, experiment_default="the experiment's --name; --resume keeps the recorded one")
    add_register_flag(p, what="each category's exported model once the search ends")


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = add_verb(
        sub,
        "tune",
        summary="search GLASS hyperparameters with Ray Tune + Optuna",
        description="Search the hyperparameters of a space file: one Optuna study per category, Ray Tune "
        "runs each trial as a GLASS training and ASHA stops weak trials early. Then the top configs and "
        "the paper default are trained again with fresh seeds, the winner is the best mean validation "
        "objective and a verdict says whether it beats the default beyond the seeds' noise; the config "
        f"is exported when the category finishes; everything lands in --storage/--name ({DEFAULT_STORAGE}/"
        "tune-<time> by default) and --resume continues an interrupted search. The last line counts each "
        "category's errored trials; the exit code is 1 when a category has none that finished (nothing "
        "exported), 2 for a usage mistake, 130 when interrupted.",
        example="glass-tune tune --data /data/mvtec --category bottle screw --samples 32 --epochs 100 --name mvtec-hpo",
        func=cmd_tune,
    )
    add_tune_flags(p, job=False)
    return p
