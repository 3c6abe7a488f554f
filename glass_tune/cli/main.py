"""The ``glass-tune`` command line: one small command function per verb over the library.

User mistakes (``UserError``) end as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from glass_tune import __version__
from glass_tune.config.schema import (
    DATA_FORMAT_CHOICES,
    DEVICE_CHOICES,
    VAL_SOURCE_CHOICES,
    GlassConfig,
    load_config,
)
from glass_tune.search.objective import (
    DEFAULT_OBJECTIVE,
    DEFAULT_REPEATS,
    OBJECTIVES,
    objective_metric,
)
from glass_tune.search.samplers import DEFAULT_SAMPLER, SAMPLERS
from glass_tune.util.errors import UserError
from glass_tune.util.logs import get_logger, setup_console

log = get_logger(__name__)

# Heavy imports (torch, ray) happen inside the command functions so `--help` and errors stay fast.


# Dedicated flags and the config keys they set (None = not given); --set overrides them all.
_CONFIG_FLAGS = {
    "data": "data_root",
    "epochs": "epochs",
    "device": "device",
    "seed": "seed",
    "data_format": "data_format",
    "val_source": "val_source",
    "val_ratio": "val_ratio",
}


def config_from_args(args: argparse.Namespace, *, fixed: Mapping[str, Any] | None = None) -> GlassConfig:
    """The one way a verb turns its flags into a config: file, ``fixed`` (a space's), flags, ``--set``."""
    extra = {key: getattr(args, flag, None) for flag, key in _CONFIG_FLAGS.items()}
    if isinstance(getattr(args, "category", None), str):  # train names one; tune/check-data a list
        extra["category"] = args.category
    return load_config(args.config, overrides=args.set or (), fixed=fixed, extra=extra)


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--layout", dest="data_format", choices=DATA_FORMAT_CHOICES, help="dataset layout (default: detected)")
    p.add_argument(
        "--format", dest="data_format", choices=DATA_FORMAT_CHOICES, action=_DeprecatedLayoutFlag, help=argparse.SUPPRESS
    )
    p.add_argument(
        "--val-source",
        choices=VAL_SOURCE_CHOICES,
        help="validation for epoch selection and search: auto (default: split when the test set has defects with "
        "masks, else synthetic), split of the test set, synthetic defects on held-out training images, the test set, "
        "or val_dir",
    )
    p.add_argument(
        "--val-ratio", type=float, metavar="R", help="share of the test set used for validation with split (default 0.5)"
    )


class _DeprecatedLayoutFlag(argparse.Action):
    """``--format`` named the dataset layout before 0.2; it now means an export format only."""

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # type: ignore[override]
        log.warning("--format for the dataset layout is deprecated, use --layout")
        setattr(namespace, self.dest, values)


def _add_source_flags(p: argparse.ArgumentParser, *, config_help: str) -> None:
    """--data, --config and --set: where a run's data and config come from (train, tune, check-data)."""
    p.add_argument("--data", metavar="ROOT", help="dataset root, MVTec/VisA/folder layout (default: built-in synthetic data)")
    p.add_argument("--config", metavar="FILE|NAME", help=config_help)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (value parsed as YAML); repeatable")


def _add_device_flag(p: argparse.ArgumentParser, *, default: str | None = None, help: str = "device (default: auto)") -> None:
    p.add_argument("--device", choices=DEVICE_CHOICES, default=default, help=help)


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    _add_source_flags(p, config_help="YAML config, e.g. an exported best config, or a bundled profile (cpu_demo)")
    p.add_argument("--category", metavar="C", help="category folder under ROOT (default: the first one)")
    p.add_argument("--epochs", type=int, metavar="N", help="number of epochs")
    _add_device_flag(p)
    p.add_argument("--seed", type=int, metavar="S", help="random seed")


def _prepare_out_dir(out: Path, *, overwrite: bool, resume: bool) -> None:
    """Refuse to mix a new run into an old one unless asked; nothing is deleted before inputs validate."""
    if resume:
        if not (out / "checkpoints" / "last.pt").is_file():
            raise UserError(f"{out}: nothing to resume (no checkpoints/last.pt)")
        return
    if out.exists() and any(out.iterdir()):
        if not overwrite:
            raise UserError(f"{out}: output folder is not empty (pass --overwrite to replace it, or --resume)")
        shutil.rmtree(out)


def cmd_train(args: argparse.Namespace) -> int:
    from glass_tune.training.console import ConsoleCallback, format_decisions, format_metrics, format_thresholds
    from glass_tune.training.data_check import preflight
    from glass_tune.training.loop import fit
    from glass_tune.training.run_inputs import resolve_run_config
    from glass_tune.training.tensorboard_log import TensorBoardCallback

    config = resolve_run_config(config_from_args(args))
    preflight(config, [config.category])  # every data problem before any output is touched
    out = Path(args.out or f"runs/train-{config.category}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    _prepare_out_dir(out, overwrite=args.overwrite, resume=args.resume)
    resume = out / "checkpoints" / "last.pt" if args.resume else None
    log.info(f"glass-tune train: {config.category} from {config.data_root} -> {out}")
    result = fit(
        config,
        out_dir=out,
        callbacks=[ConsoleCallback(), TensorBoardCallback(out / "tensorboard")],
        resume=resume,
        progress=sys.stderr.isatty(),
    )
    best = result.best
    log.info(f"best epoch {best.get('epoch')} on {result.val_source} validation: {format_metrics(best)}")
    if result.thresholds is not None:
        log.info(format_thresholds(result.thresholds))
    if result.test is not None:
        log.info(f"held-out test at that epoch: {format_metrics(result.test)}  {format_decisions(result.test)}")
    log.info(f"outputs: {out}  (tensorboard --logdir {out / 'tensorboard'})")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from glass_tune.inference.predict import predict_images

    results = predict_images(
        args.images,
        out_dir=args.out,
        checkpoint=args.checkpoint,
        onnx=args.onnx,
        device=args.device,
        category=args.category,
        threshold=args.threshold,
        pixel_threshold=args.pixel_threshold,
    )
    for r in results:
        print(f"{r.score:.6f}  {'anomalous' if r.is_anomalous else 'normal   '}  {r.path}")
    if results:
        log.info(f"decisions at image threshold {results[0].threshold:.6f} (score >= threshold is anomalous)")
    log.info(f"heat maps, defect masks and scores.csv written to {Path(args.out).resolve()}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from glass_tune.data import generate_synthetic

    root = generate_synthetic(Path(args.out), categories=args.categories, seed=args.seed, size=args.size)
    log.info(f"synthetic dataset written to {root}")
    return 0


def _with_objective(space, objective: str):
    """The space optimising what ``--objective`` asks (the reported ``objective`` for smoothed)."""
    return dataclasses.replace(space, metric=objective_metric(space_metric=space.metric, objective=objective))


def cmd_tune(args: argparse.Namespace) -> int:
    from glass_tune.search.driver import (
        TuneOptions,
        load_search_record,
        reject_searched_overrides,
        run_search,
    )
    from glass_tune.search.space import load_search_space
    from glass_tune.training.console import format_metrics
    from glass_tune.training.data_check import preflight, select_categories
    from glass_tune.training.run_inputs import resolve_data_root

    options = TuneOptions(
        name=args.name or f"tune-{time.strftime('%Y%m%d-%H%M%S')}",
        storage=args.storage,
        samples=args.samples,
        scheduler=args.scheduler,
        grace_period=args.grace_period,
        reduction_factor=args.reduction_factor,
        max_concurrent=args.max_concurrent,
        max_concurrent_total=args.max_concurrent_total,
        cpus_per_trial=1.0 if args.cpus_per_trial is None else args.cpus_per_trial,
        gpus_per_trial=0.0 if args.gpus_per_trial is None else args.gpus_per_trial,
        address=args.address,
        seed=args.seed if args.seed is not None else 0,
        optuna_storage=args.optuna_storage,
        max_failures=args.max_failures,
        checkpoint_every=args.checkpoint_every,
        sampler=args.sampler,
        objective=args.objective,
        repeats=args.repeats,
    )
    if args.resume:
        if not args.name:
            raise UserError("--resume needs --name NAME of the experiment to continue")
        explicit = [k for k in ("cpus_per_trial", "gpus_per_trial") if getattr(args, k) is not None]
        base, space, options, categories = load_search_record(options, explicit=explicit)
        space = _with_objective(space, options.objective)
    else:
        options.validate()
        options.experiment.parent.check_writable()  # before the (possibly slow) data checks
        space = _with_objective(load_search_space(args.space), options.objective)
        base = config_from_args(args, fixed=space.fixed)
        reject_searched_overrides(space, args.set or ())
        # No --data: the built-in data stays unnamed in the trial configs, each node makes its own copy.
        probe = base.replace(data_root=str(resolve_data_root(base)))
        categories = select_categories(probe, args.category)
        preflight(probe, categories)  # every data problem the driver can see before any trial starts
        if options.experiment.exists():
            raise UserError(f"{options.experiment}: experiment exists (pass --resume to continue it, or another --name)")
    outcomes = run_search(base=base, space=space, options=options, categories=categories, resume=args.resume)
    exp = options.experiment
    for o in outcomes:
        if o.best_trial is None:
            log.info(f"[{o.category}] no trial finished ({len(o.errors)} errored)")
            continue
        log.info(f"[{o.category}] best trial {o.best_trial} (score {o.best.get('score'):.4f}): {format_metrics(o.best)}")
        log.info(f"[{o.category}] best config: {o.best_config_path}")
        for err in o.errors:
            log.info(f"[{o.category}] errored trial {err}")
    log.info(f"summary: {exp / 'summary.md'}")
    log.info(f"status: glass-tune status {exp}")
    log.info(f"tensorboard --logdir {exp}")
    return 0


def cmd_check_data(args: argparse.Namespace) -> int:
    from glass_tune.training.data_check import (
        check_categories,
        format_report,
        raise_on_problems,
        select_categories,
    )

    config = config_from_args(args)
    reports = check_categories(config, select_categories(config, args.category))
    print("\n\n".join(format_report(r) for r in reports))
    raise_on_problems(reports)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from glass_tune.export.config_formats import export_experiment

    if args.format == "onnx":
        return _export_onnx(args)
    text = export_experiment(args.experiment, fmt=args.format, out=args.out, category=args.category)
    if args.out:
        log.info(f"best config written to {Path(args.out).resolve()}")
    else:
        sys.stdout.write(text)
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from glass_tune.export.onnx_model import export_onnx

    if not args.out:
        raise UserError("--format onnx needs --out FILE (e.g. --out model.onnx)")
    target = export_onnx(args.experiment, out=args.out, category=args.category)
    log.info(f"ONNX model written to {target.resolve()}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from glass_tune.report.build import write_report

    html = write_report(args.experiment, out_dir=args.out, device=args.device)
    log.info(f"report written to {html.resolve()}")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from glass_tune.report.dashboard import run_dashboards

    return run_dashboards(args.experiment, tensorboard_port=args.tensorboard_port, optuna_port=args.optuna_port)


def cmd_status(args: argparse.Namespace) -> int:
    from glass_tune.experiment.status import experiment_status, format_status

    print(format_status(experiment_status(experiment=args.experiment)))
    return 0


def _add_dataset_flags(p: argparse.ArgumentParser, *, verb: str, config_help: str) -> None:
    """Flags of the commands that work on several categories at once (tune, check-data)."""
    _add_source_flags(p, config_help=config_help)
    p.add_argument("--category", nargs="+", metavar="C", help=f"categories to {verb}, or 'all' (default: the first)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="glass-tune", description="Train and tune GLASS anomaly detection.")
    parser.add_argument("--version", action="version", version=f"glass-tune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train GLASS once and keep the best epoch")
    _add_config_flags(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/train-<category>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    _add_data_flags(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("tune", help="search GLASS hyperparameters with Ray Tune + Optuna")
    _add_dataset_flags(p, verb="search", config_help="YAML base config for every trial")
    p.add_argument("--space", default="default", metavar="NAME|FILE", help="search space: bundled name or YAML file")
    p.add_argument("--samples", type=int, default=8, metavar="N", help="trials per category (default 8)")
    p.add_argument("--epochs", type=int, metavar="E", help="epochs per trial")
    p.add_argument("--scheduler", choices=("asha", "fifo"), default="asha", help="early stopping (default asha)")
    p.add_argument(
        "--grace-period",
        type=int,
        metavar="E",
        help="ASHA: epochs before a trial may stop (default: a quarter of the epochs, at least 3 evaluations)",
    )
    p.add_argument("--reduction-factor", type=int, default=2, metavar="F", help="ASHA reduction factor")
    p.add_argument("--max-concurrent", type=int, metavar="K", help="at most K trials at once per category")
    p.add_argument(
        "--max-concurrent-total",
        type=int,
        metavar="K",
        help="at most K trials at once over all categories (they are searched concurrently)",
    )
    p.add_argument("--cpus-per-trial", type=float, metavar="C", help="default 1; --resume keeps the recorded value")
    p.add_argument(
        "--gpus-per-trial", type=float, metavar="G", help="fractions share a GPU (default 0; --resume keeps the recorded value)"
    )
    p.add_argument("--address", metavar="auto|HOST:PORT|ray://HOST:PORT", help="existing Ray cluster (default: local)")
    p.add_argument(
        "--storage",
        default="runs/tune",
        metavar="DIR|URI",
        help="experiments folder, shared on a cluster (NFS path or s3://bucket/prefix, gs://...)",
    )
    p.add_argument("--name", metavar="NAME", help="experiment name (default: tune-<time>)")
    p.add_argument("--seed", type=int, metavar="S", help="seed of trials and of the Optuna sampler")
    _add_device_flag(p)
    p.add_argument(
        "--optuna-storage", metavar="URL", help="Optuna storage: an RDB URL (default: a journal file in the experiment)"
    )
    p.add_argument("--max-failures", type=int, default=0, metavar="N", help="retries of a failed trial")
    p.add_argument("--checkpoint-every", type=int, default=5, metavar="K", help="also checkpoint every K evaluations")
    p.add_argument("--resume", action="store_true", help="continue the interrupted experiment --name")
    _add_data_flags(p)
    p.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default=DEFAULT_SAMPLER,
        help="Optuna sampler (default tpe; random start-up trials: a quarter of --samples, at least 2)",
    )
    p.add_argument(
        "--objective",
        choices=OBJECTIVES,
        default=DEFAULT_OBJECTIVE,
        help="best: best validation score over epochs; smoothed: mean of the best 3 (optimised as 'objective')",
    )
    p.add_argument(
        "--repeats",
        type=int,
        default=DEFAULT_REPEATS,
        metavar="K",
        help="train each configuration with K seeds in lockstep and optimise their per-epoch mean",
    )
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("check-data", help="validate a dataset and print its per-category table")
    _add_dataset_flags(p, verb="check", config_help="YAML config (its data keys apply: val_source, foreground, ...)")
    p.add_argument("--seed", type=int, metavar="S", help="seed of the validation split")
    _add_data_flags(p)
    p.set_defaults(func=cmd_check_data)

    p = sub.add_parser("export", help="write the best config of a finished search, or a model as ONNX")
    p.add_argument(
        "experiment",
        metavar="EXPERIMENT",
        help="experiment folder or URI (runs/tune/NAME) or a category in it; "
        "with --format onnx also a train run, trial or checkpoint",
    )
    p.add_argument("--category", metavar="C", help="which category, when the experiment has several")
    p.add_argument(
        "--format",
        choices=("yaml", "json", "anomalib", "official", "onnx"),
        default="yaml",
        help="onnx: the selected epoch's model as one ONNX graph (needs --out)",
    )
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("status", help="progress of a search (running or finished); read-only")
    p.add_argument("experiment", metavar="EXPERIMENT", help="experiment folder or URI (runs/tune/NAME, s3://bucket/prefix/NAME)")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("predict", help="score images with a trained checkpoint or an exported ONNX model")
    model = p.add_mutually_exclusive_group(required=True)
    model.add_argument(
        "--checkpoint",
        metavar="CKPT",
        help="a checkpoint file, a train run, a trial or Ray checkpoint folder, or an experiment (its best trial)",
    )
    model.add_argument("--onnx", metavar="FILE", help="a model written by export --format onnx (run with onnxruntime)")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, metavar="DIR")
    _add_device_flag(p, default="auto")
    p.add_argument("--category", metavar="C", help="which category, when --checkpoint is an experiment with several")
    p.add_argument(
        "--threshold", type=float, metavar="T", help="image score threshold (default: the one calibrated on validation)"
    )
    p.add_argument(
        "--pixel-threshold",
        type=float,
        metavar="T",
        help="defect-mask threshold (default: the calibrated one; with --threshold alone, that value)",
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("report", help="write an HTML report (plots, trial table, best model's heat maps) of a search")
    p.add_argument("experiment", metavar="EXPERIMENT", help="experiment folder (runs/tune/NAME)")
    p.add_argument("--out", metavar="DIR", help="output folder (default: EXPERIMENT/report)")
    _add_device_flag(p, default="auto", help="for the best trial's test images")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("dashboard", help="serve TensorBoard and optuna-dashboard on an experiment (Ctrl-C stops)")
    p.add_argument("experiment", metavar="EXPERIMENT", help="experiment folder (runs/tune/NAME)")
    p.add_argument("--tensorboard-port", type=int, default=0, metavar="P", help="default: a free port")
    p.add_argument("--optuna-port", type=int, default=0, metavar="P", help="default: a free port")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("synth", help="write the built-in synthetic dataset (MVTec AD layout)")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--categories", nargs="+", metavar="C")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=128, metavar="PX")
    p.set_defaults(func=cmd_synth)

    _add_job_verbs(sub)
    _add_verbosity_flags(parser, top=True)
    for verb in sub.choices.values():
        _add_verbosity_flags(verb, top=False)
    return parser


# --- Ray job verbs: the search as a job on a cluster's job server (glass_tune/jobs.py) ---------

# tune flags that submit sets itself (carried, resolved or replaced), not passed through as given
_SUBMIT_OWN = ("address", "config", "space", "data", "storage", "name")


def _tune_argv(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The tune command line that reproduces ``args`` (flags left at their default are left out)."""
    argv: list[str] = []
    for action in parser._actions:
        value = getattr(args, action.dest, None)
        own = not action.option_strings or action.dest in _SUBMIT_OWN or action.dest == "verbosity"
        if own or value is None or value is False or value == action.default:  # `is`: 0 == False
            continue
        flag = action.option_strings[-1]
        if value is True:
            argv.append(flag)
        elif isinstance(action, argparse._AppendAction):
            argv += [x for item in value for x in (flag, str(item))]
        elif isinstance(value, list):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    verbosity = getattr(args, "verbosity", 0)
    return [*argv, "-v"] if verbosity > 0 else [*argv, "-q"] if verbosity < 0 else argv


def cmd_submit(args: argparse.Namespace) -> int:
    from glass_tune.search.jobs import check_storage, connect, parse_env, submit_search

    if args.resume and not args.name:
        raise UserError("--resume needs --name NAME of the experiment to continue")
    env = parse_env(pairs=args.env or ())
    check_storage(storage=args.storage)
    client = connect(address=args.address)
    name = args.name or f"tune-{time.strftime('%Y%m%d-%H%M%S')}"
    job_id = submit_search(
        client=client,
        tune_args=_tune_argv(args.tune_parser, args),
        name=name,
        storage=args.storage,
        config=args.config,
        space=args.space,
        data=args.data,
        env=env,
    )
    address = client.get_address()
    print(f"submitted job {job_id}: experiment {name} in {args.storage}")
    log.info(f"follow it: glass-tune logs {job_id} --follow --address {address}")
    log.info(f"stop it:   glass-tune stop {job_id} --address {address}")
    return 0


def cmd_jobs(args: argparse.Namespace) -> int:
    from glass_tune.search.jobs import connect, format_jobs, list_jobs

    print(format_jobs(rows=list_jobs(client=connect(address=args.address))))
    return 0


def cmd_logs(args: argparse.Namespace) -> int:
    from glass_tune.search.jobs import connect, print_logs

    status = print_logs(client=connect(address=args.address), job_id=args.job, follow=args.follow)
    if args.follow:
        print(f"glass-tune logs: job {args.job} {status}", file=sys.stderr)
        return 0 if status == "SUCCEEDED" else 1
    return 0


def cmd_stop(args: argparse.Namespace) -> int:
    from glass_tune.search.jobs import connect, resume_hint, stop_job

    client = connect(address=args.address)
    details = stop_job(client=client, job_id=args.job)
    log.info(f"job {args.job}: {details.status.value}")
    if str(details.status.value) == "STOPPED":
        log.info(f"continue the search with: {resume_hint(details=details, address=client.get_address())}")
    return 0


def _add_job_verbs(sub: argparse._SubParsersAction) -> None:
    address_help = "the cluster's job server (dashboard), e.g. http://HEAD:8265 (default: $RAY_API_SERVER_ADDRESS, $RAY_ADDRESS)"
    tune = sub.choices["tune"]
    # submit takes every tune flag (whatever tune gains later too); --address and --storage change meaning
    p = sub.add_parser(
        "submit",
        parents=[tune],
        conflict_handler="resolve",
        help="run a search (the tune options) as a Ray job on a cluster",
        description="Run `glass-tune tune` as a Ray job: this glass-tune code and the --config/--space "
        "files travel with the job; --data and --storage must be paths (or URIs) the cluster's nodes "
        "see. The job runs `python -m glass_tune.cli` with the head's `python`.",
    )
    p.add_argument("--address", metavar="URL", help=address_help)
    p.add_argument(
        "--storage",
        required=True,
        metavar="DIR|URI",
        help="experiments folder as the cluster sees it: an absolute shared path or a URI",
    )
    p.add_argument("--env", action="append", metavar="KEY=VALUE", help="environment variable of the job; repeatable")
    p.set_defaults(func=cmd_submit, tune_parser=tune)

    p = sub.add_parser("jobs", help="list the glass-tune jobs of a cluster")
    p.add_argument("--address", metavar="URL", help=address_help)
    p.set_defaults(func=cmd_jobs)

    p = sub.add_parser("logs", help="print a job's output")
    p.add_argument("job", metavar="JOB", help="job id (from submit or jobs)")
    p.add_argument("--follow", action="store_true", help="keep printing until the job ends")
    p.add_argument("--address", metavar="URL", help=address_help)
    p.set_defaults(func=cmd_logs)

    p = sub.add_parser("stop", help="stop a job; its search stays resumable (submit --resume --name)")
    p.add_argument("job", metavar="JOB", help="job id (from submit or jobs)")
    p.add_argument("--address", metavar="URL", help=address_help)
    p.set_defaults(func=cmd_stop)


def _add_verbosity_flags(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """-v/-q before or after the verb; a subcommand's flag only counts when given (SUPPRESS)."""
    default = 0 if top else argparse.SUPPRESS
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "-v", "--verbose", dest="verbosity", action="store_const", const=1, default=default, help="more detail (debug lines)"
    )
    group.add_argument(
        "-q", "--quiet", dest="verbosity", action="store_const", const=-1, default=default, help="only warnings and errors"
    )


def main(argv: Sequence[str] | None = None) -> int:
    setup_console()  # parse-time warnings (deprecated flags) reach the console too
    args = build_parser().parse_args(argv)
    setup_console(verbosity=args.verbosity)  # progress lines on stdout, warnings on stderr
    try:
        return args.func(args)
    except UserError as exc:
        print(f"glass-tune {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"glass-tune {args.command}: interrupted", file=sys.stderr)
        return 130
