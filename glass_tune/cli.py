"""The ``glass-tune`` command line: one small command function per verb over the library.

User mistakes (``UserError``) end as one line on stderr with exit code 2, never a traceback.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from glass_tune import __version__
from glass_tune.config import DATA_FORMAT_CHOICES, VAL_SOURCE_CHOICES, GlassConfig, load_config
from glass_tune.errors import UserError
from glass_tune.notices import console_logging
from glass_tune.objective import DEFAULT_OBJECTIVE, DEFAULT_REPEATS, OBJECTIVES, objective_metric
from glass_tune.strategy import DEFAULT_SAMPLER, SAMPLERS

# Heavy imports (torch, ray) happen inside the command functions so `--help` and errors stay fast.


def config_from_args(args: argparse.Namespace) -> GlassConfig:
    """Config file, then the dedicated flags, then ``--set`` overrides (last wins)."""
    extra = {
        "data_root": getattr(args, "data", None),
        "category": getattr(args, "category", None),
        "epochs": getattr(args, "epochs", None),
        "device": getattr(args, "device", None),
        "seed": getattr(args, "seed", None),
        **_data_extra(args),
    }
    return load_config(args.config, overrides=args.set or (), extra=extra)


def _data_extra(args: argparse.Namespace) -> dict[str, object]:
    """The dataset flags shared by train, tune and check-data, as config keys (None = unset)."""
    return {key: getattr(args, key, None) for key in ("data_format", "val_source", "val_ratio")}


def _add_data_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--format", dest="data_format", choices=DATA_FORMAT_CHOICES,
                   help="dataset layout (default: detected)")
    p.add_argument("--val-source", choices=VAL_SOURCE_CHOICES,
                   help="validation for epoch selection and search: split of the test set (default), the test set, or val_dir")
    p.add_argument("--val-ratio", type=float, metavar="R", help="share of the test set used for validation with split (default 0.5)")


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", metavar="ROOT", help="dataset root, MVTec/VisA/folder layout (default: built-in synthetic data)")
    p.add_argument("--category", metavar="C", help="category folder under ROOT (default: the first one)")
    p.add_argument("--config", metavar="FILE", help="YAML config (e.g. an exported best config)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key (value parsed as YAML); repeatable")
    p.add_argument("--epochs", type=int, metavar="N", help="number of epochs")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), help="device (default: auto)")
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
    from glass_tune.check_data import preflight
    from glass_tune.console import ConsoleCallback, format_metrics
    from glass_tune.run_data import resolve_run_config
    from glass_tune.tensorboard_log import TensorBoardCallback
    from glass_tune.training import fit

    config = resolve_run_config(config_from_args(args))
    preflight(config, [config.category])  # every data problem before any output is touched
    out = Path(args.out or f"runs/train-{config.category}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    _prepare_out_dir(out, overwrite=args.overwrite, resume=args.resume)
    resume = out / "checkpoints" / "last.pt" if args.resume else None
    print(f"glass-tune train: {config.category} from {config.data_root} -> {out}", flush=True)
    result = fit(
        config,
        out_dir=out,
        callbacks=[ConsoleCallback(), TensorBoardCallback(out / "tensorboard")],
        resume=resume,
        progress=sys.stderr.isatty(),
    )
    best = result.best
    print(f"best epoch {best.get('epoch')}: {format_metrics(best)}")
    if result.test is not None:
        print(f"held-out test at that epoch: {format_metrics(result.test)}")
    print(f"outputs: {out}  (tensorboard --logdir {out / 'tensorboard'})")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from glass_tune.predict import predict_images

    results = predict_images(args.checkpoint, args.images, out_dir=args.out, device=args.device)
    for r in results:
        print(f"{r.score:.6f}  {r.path}")
    print(f"heat maps and scores.csv written to {Path(args.out).resolve()}")
    return 0


def cmd_synth(args: argparse.Namespace) -> int:
    from glass_tune.data import generate_synthetic

    root = generate_synthetic(Path(args.out), categories=args.categories, seed=args.seed, size=args.size)
    print(f"synthetic dataset written to {root}")
    return 0


def _with_objective(space, objective: str):
    """The space optimising what ``--objective`` asks (the reported ``objective`` for smoothed)."""
    return dataclasses.replace(space, metric=objective_metric(space_metric=space.metric, objective=objective))


def cmd_tune(args: argparse.Namespace) -> int:
    from glass_tune.check_data import preflight, select_categories
    from glass_tune.console import format_metrics
    from glass_tune.run_data import resolve_data_root
    from glass_tune.search_space import load_search_space
    from glass_tune.tuner import (
        TuneOptions,
        load_search_record,
        reject_searched_overrides,
        run_search,
        save_search_record,
    )

    options = TuneOptions(
        name=args.name or f"tune-{time.strftime('%Y%m%d-%H%M%S')}",
        storage=args.storage,
        samples=args.samples,
        scheduler=args.scheduler,
        grace_period=args.grace_period,
        reduction_factor=args.reduction_factor,
        max_concurrent=args.max_concurrent,
        cpus_per_trial=args.cpus_per_trial,
        gpus_per_trial=args.gpus_per_trial,
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
        base, space, options, categories = load_search_record(options)
        space = _with_objective(space, options.objective)
    else:
        options.validate()
        space = _with_objective(load_search_space(args.space), options.objective)
        base = load_config(args.config, overrides=args.set or (), fixed=space.fixed, extra={
            "data_root": args.data, "epochs": args.epochs, "device": args.device, "seed": args.seed,
            **_data_extra(args),
        })
        reject_searched_overrides(space, args.set or ())
        root = resolve_data_root(base)
        base = base.replace(data_root=str(root))
        categories = select_categories(base, args.category)
        preflight(base, categories)  # every data problem before any trial starts
        if options.experiment_dir.exists():
            raise UserError(f"{options.experiment_dir}: experiment exists (pass --resume to continue it, or another --name)")
        save_search_record(base, space, options, categories)
    outcomes = run_search(base=base, space=space, options=options, categories=categories, resume=args.resume)
    exp = options.experiment_dir
    for o in outcomes:
        if o.best_trial is None:
            print(f"[{o.category}] no trial finished ({len(o.errors)} errored)")
            continue
        print(f"[{o.category}] best trial {o.best_trial} (score {o.best.get('score'):.4f}): {format_metrics(o.best)}")
        print(f"[{o.category}] best config: {o.best_config_path}")
        for err in o.errors:
            print(f"[{o.category}] errored trial {err}")
    print(f"summary: {exp / 'summary.md'}")
    print(f"tensorboard --logdir {exp}")
    return 0


def cmd_check_data(args: argparse.Namespace) -> int:
    from glass_tune.check_data import check_categories, format_report, raise_on_problems, select_categories

    config = load_config(args.config, overrides=args.set or (), extra={
        "data_root": args.data, "seed": args.seed, **_data_extra(args),
    })
    reports = check_categories(config, select_categories(config, args.category))
    print("\n\n".join(format_report(r) for r in reports))
    raise_on_problems(reports)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from glass_tune.export import export_experiment

    text = export_experiment(args.experiment, fmt=args.format, out=args.out, category=args.category)
    if args.out:
        print(f"best config written to {Path(args.out).resolve()}")
    else:
        sys.stdout.write(text)
    return 0


def _add_dataset_flags(p: argparse.ArgumentParser, *, verb: str, config_help: str) -> None:
    """Flags of the commands that work on several categories at once (tune, check-data)."""
    p.add_argument("--data", metavar="ROOT", help="dataset root, MVTec/VisA/folder layout (default: built-in synthetic data)")
    p.add_argument("--category", nargs="+", metavar="C", help=f"categories to {verb}, or 'all' (default: the first)")
    p.add_argument("--config", metavar="FILE", help=config_help)
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config key; repeatable")


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
    p.add_argument("--grace-period", type=int, metavar="E",
                   help="ASHA: epochs before a trial may stop (default: a quarter of the epochs, at least 3 evaluations)")
    p.add_argument("--reduction-factor", type=int, default=2, metavar="F", help="ASHA reduction factor")
    p.add_argument("--max-concurrent", type=int, metavar="K", help="at most K trials at once")
    p.add_argument("--cpus-per-trial", type=float, default=1.0, metavar="C")
    p.add_argument("--gpus-per-trial", type=float, default=0.0, metavar="G", help="fractions share a GPU")
    p.add_argument("--address", metavar="auto|HOST:PORT|ray://HOST:PORT", help="existing Ray cluster (default: local)")
    p.add_argument("--storage", default="runs/tune", metavar="DIR", help="experiments folder (shared on a cluster)")
    p.add_argument("--name", metavar="NAME", help="experiment name (default: tune-<time>)")
    p.add_argument("--seed", type=int, metavar="S", help="seed of trials and of the Optuna sampler")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"))
    p.add_argument("--optuna-storage", metavar="URL", help="Optuna storage URL (default: SQLite in the experiment)")
    p.add_argument("--max-failures", type=int, default=0, metavar="N", help="retries of a failed trial")
    p.add_argument("--checkpoint-every", type=int, default=5, metavar="K", help="also checkpoint every K evaluations")
    p.add_argument("--resume", action="store_true", help="continue the interrupted experiment --name")
    _add_data_flags(p)
    p.add_argument("--sampler", choices=SAMPLERS, default=DEFAULT_SAMPLER,
                   help="Optuna sampler (default tpe; random start-up trials: a quarter of --samples, at least 2)")
    p.add_argument("--objective", choices=OBJECTIVES, default=DEFAULT_OBJECTIVE,
                   help="best: best validation score over epochs; smoothed: mean of the best 3 (optimised as 'objective')")
    p.add_argument("--repeats", type=int, default=DEFAULT_REPEATS, metavar="K",
                   help="train each configuration with K seeds in lockstep and optimise their per-epoch mean")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("check-data", help="validate a dataset and print its per-category table")
    _add_dataset_flags(p, verb="check", config_help="YAML config (its data keys apply: val_source, foreground, ...)")
    p.add_argument("--seed", type=int, metavar="S", help="seed of the validation split")
    _add_data_flags(p)
    p.set_defaults(func=cmd_check_data)

    p = sub.add_parser("export", help="write the best config of a finished search")
    p.add_argument("experiment", metavar="EXPERIMENT", help="experiment folder (runs/tune/NAME) or a category in it")
    p.add_argument("--category", metavar="C", help="which category, when the experiment has several")
    p.add_argument("--format", choices=("yaml", "json", "anomalib", "official"), default="yaml")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("predict", help="score images with a trained checkpoint")
    p.add_argument("--checkpoint", required=True, metavar="CKPT", help="a checkpoint file or a train output folder")
    p.add_argument("images", nargs="+", metavar="IMAGE")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument("--device", choices=("cpu", "cuda", "auto"), default="auto")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("synth", help="write the built-in synthetic dataset (MVTec AD layout)")
    p.add_argument("out", metavar="OUT")
    p.add_argument("--categories", nargs="+", metavar="C")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", type=int, default=128, metavar="PX")
    p.set_defaults(func=cmd_synth)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console_logging()  # svd choices and protocol warnings, one line each
    try:
        return args.func(args)
    except UserError as exc:
        print(f"glass-tune {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"glass-tune {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
