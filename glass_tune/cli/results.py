"""The verbs that read an experiment: ``status``, ``export``, ``report``, ``dashboard``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from glass_tune.cli.common import PORT, add_device_flag, add_experiment_arg, add_verb
from glass_tune.cli.tracking import add_register_flag, add_tracking_flags, log_registered
from glass_tune.export.config_formats import FORMATS
from glass_tune.util.errors import UserError
from glass_tune.util.logs import get_logger

log = get_logger(__name__)

EXPORT_FORMATS = (*FORMATS, "onnx")  # the config formats, and the selected model as ONNX


def cmd_status(args: argparse.Namespace) -> int:
    from glass_tune.experiment.status import experiment_status, format_status

    print(format_status(experiment_status(experiment=args.experiment)))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from glass_tune.export.config_formats import export_experiment

    if args.register:
        from glass_tune.export.registry import register_exported
        from glass_tune.tracking.experiment import registry_settings

        settings = registry_settings(experiment=args.experiment, uri=args.mlflow, mlflow_experiment=args.mlflow_experiment)
        categories = [args.category] if args.category else None
        log_registered(
            register_exported(experiment=args.experiment, name=args.register, settings=settings, categories=categories)
        )
        if not args.out:  # registered; a config goes to stdout only when asked for a file
            return 0
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


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub,
        "status",
        summary="progress of a search (running or finished); read-only",
        description="Print, per category, how many trials finished, were stopped early, errored or are "
        "still running, and the best score so far. Reads the experiment only, so it is safe while the "
        "search runs, from any machine that sees the storage.",
        example="glass-tune status runs/tune/NAME",
        func=cmd_status,
    )
    add_experiment_arg(p, help="experiment folder or URI (runs/tune/NAME, s3://bucket/prefix/NAME)")

    p = add_verb(
        sub,
        "export",
        summary="write the best config of a finished search, or a model as ONNX",
        description="Write the exported trial's complete config (the confirmation's choice, else the best "
        "trial) with its provenance, as glass-tune YAML or JSON, an anomalib config or the official GLASS "
        "flags; or, with --format onnx, that trial's selected-epoch model as one ONNX graph (images in "
        "[0, 1] -> score, anomaly map).",
        example="glass-tune export runs/tune/NAME --category bottle --format anomalib --out bottle.yaml\n"
        "glass-tune export runs/tune/NAME --category bottle --format onnx --out bottle.onnx",
        func=cmd_export,
    )
    add_experiment_arg(
        p,
        help="experiment folder or URI (runs/tune/NAME) or a category in it; "
        "with --format onnx also a train run, trial or checkpoint",
    )
    p.add_argument("--category", metavar="C", help="which category, when the experiment has several (default: the only one)")
    p.add_argument(
        "--format", choices=EXPORT_FORMATS, default="yaml", help="output format; onnx: the selected epoch's model (needs --out)"
    )
    p.add_argument("--out", metavar="FILE", help="write here (default: stdout; onnx needs a file)")
    add_register_flag(p, what="the exported model (what --format onnx writes)")
    add_tracking_flags(
        p,
        experiment_default="the one the search recorded, else the experiment's name",
        uri_default="$MLFLOW_TRACKING_URI, else the one the search recorded",
    )

    p = add_verb(
        sub,
        "report",
        summary="write an HTML report (plots, trial table, best model's heat maps) of a search",
        description="Write a self-contained report.html and its PNGs: best score so far, validation curves "
        "per trial, parallel coordinates, parameter importance, the trial table, and the best model's "
        "heat maps, ROC/PRO curves and score histogram on its category's test images.",
        example="glass-tune report runs/tune/NAME",
        func=cmd_report,
    )
    add_experiment_arg(p)
    p.add_argument("--out", metavar="DIR", help="output folder (default: EXPERIMENT/report)")
    add_device_flag(p, default="auto", help="device for the best trial's test images")

    p = add_verb(
        sub,
        "dashboard",
        summary="serve TensorBoard and optuna-dashboard on an experiment (Ctrl-C stops)",
        description="Serve TensorBoard on the experiment's trial events and optuna-dashboard on its "
        "studies, both on 127.0.0.1, and print their URLs; Ctrl-C stops both.",
        example="glass-tune dashboard runs/tune/NAME --tensorboard-port 6006 --optuna-port 8080",
        func=cmd_dashboard,
    )
    add_experiment_arg(p)
    p.add_argument("--tensorboard-port", type=PORT, default=0, metavar="P", help="TensorBoard port (default: a free port)")
    p.add_argument("--optuna-port", type=PORT, default=0, metavar="P", help="optuna-dashboard port (default: a free port)")
