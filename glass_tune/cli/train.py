"""``glass-tune train``: one GLASS training run, best epoch kept (no Ray)."""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from glass_tune.cli.common import (
    add_device_flag,
    add_layout_flags,
    add_seed_flag,
    add_source_flags,
    add_verb,
    config_default,
    config_flag,
    config_from_args,
)
from glass_tune.cli.tracking import add_tracking_flags
from glass_tune.util.errors import UserError
from glass_tune.util.logs import get_logger

log = get_logger(__name__)


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
    from glass_tune.tracking.training import tracked_training, training_tracker
    from glass_tune.training.console import ConsoleCallback, format_decisions, format_metrics, format_thresholds
    from glass_tune.training.data_check import preflight
    from glass_tune.training.loop import fit
    from glass_tune.training.run_inputs import resolve_run_config
    from glass_tune.training.tensorboard_log import TensorBoardCallback

    config = resolve_run_config(config_from_args(args))
    preflight(config, [config.category])  # every data problem before any output is touched
    tracking = training_tracker(uri=args.mlflow, experiment=args.mlflow_experiment, category=str(config.category))
    out = Path(args.out or f"runs/train-{config.category}-{time.strftime('%Y%m%d-%H%M%S')}").resolve()
    _prepare_out_dir(out, overwrite=args.overwrite, resume=args.resume)
    resume = out / "checkpoints" / "last.pt" if args.resume else None
    log.info(f"glass-tune train: {config.category} from {config.data_root} -> {out}")
    with tracked_training(tracking, out_dir=out) as tracker_callbacks:
        result = fit(
            config,
            out_dir=out,
            callbacks=[ConsoleCallback(), TensorBoardCallback(out / "tensorboard"), *tracker_callbacks],
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


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub,
        "train",
        summary="train GLASS once and keep the best epoch",
        description="Train GLASS on one category and keep the epoch with the best validation score "
        "(image + pixel AUROC). Writes the checkpoints, metrics.json, the resolved config and TensorBoard "
        "events to --out. Without --data it trains on the built-in synthetic dataset.",
        example="glass-tune train --data /data/mvtec --category bottle --out runs/bottle\n"
        "glass-tune train --config runs/tune/NAME/bottle/best_config.yaml --out runs/bottle-best",
        func=cmd_train,
    )
    add_source_flags(
        p,
        config_help="YAML config, e.g. an exported best config, or a bundled profile such as cpu_demo (default: the built-in defaults)",
    )
    p.add_argument("--category", metavar="C", help="category folder under ROOT (default: the first one)")
    p.add_argument("--epochs", type=config_flag("epochs"), metavar="N", help=f"number of epochs ({config_default('epochs')})")
    add_device_flag(p)
    add_seed_flag(p, help="random seed")
    p.add_argument("--out", metavar="DIR", help="output folder (default: runs/train-<category>-<time>)")
    p.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    add_layout_flags(p)
    add_tracking_flags(p, experiment_default="train-<category>")
