"""``glass-tune track``: an experiment's records into MLflow; and the tracking flags other verbs share."""

from __future__ import annotations

import argparse

from glass_tune.cli.common import add_experiment_arg, add_verb
from glass_tune.util.logs import get_logger

log = get_logger(__name__)


def add_tracking_flags(
    p: argparse.ArgumentParser, *, experiment_default: str, uri_default: str = "$MLFLOW_TRACKING_URI, else not tracked"
) -> None:
    """``--mlflow`` and ``--mlflow-experiment`` (train, tune, submit, track)."""
    p.add_argument(
        "--mlflow",
        metavar="URI",
        help=f"MLflow tracking URI to log the runs to, e.g. http://127.0.0.1:5000 (default: {uri_default})",
    )
    p.add_argument(
        "--mlflow-experiment", metavar="NAME", help=f"the MLflow experiment to log into (default: {experiment_default})"
    )


def add_register_flag(p: argparse.ArgumentParser, *, what: str) -> None:
    """``--register NAME`` (tune, export)."""
    p.add_argument(
        "--register",
        metavar="NAME",
        help=f"register {what} in the MLflow Model Registry as a new version of NAME (NAME-<category> when "
        "the experiment has several categories), alias 'candidate'; needs --mlflow (default: not registered)",
    )


def log_registered(versions) -> None:
    for v in versions:
        log.info(f"[{v.category}] registered {v.name} version {v.version} (alias candidate): {v.uri}")


def cmd_track(args: argparse.Namespace) -> int:
    from glass_tune.tracking.experiment import track_experiment

    tracked = track_experiment(experiment=args.experiment, uri=args.mlflow, mlflow_experiment=args.mlflow_experiment)
    for t in tracked:
        log.info(f"[{t.category}] {t.runs} runs up to date (search run {t.status})")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = add_verb(
        sub,
        "track",
        summary="log a finished or interrupted experiment into MLflow (idempotent)",
        description="Bring MLflow up to date with an experiment's plain records: one parent run per category "
        "(search settings, best value, verdict and intervals), one nested run per trial (config, per-epoch "
        "metrics, end status) and per confirmation run. Works on experiments made before tracking existed "
        "and after a tracker went away mid-search; running it again changes nothing. The run ids are kept "
        "in <category>/tracking/mlflow.json.",
        example="glass-tune track runs/tune/NAME --mlflow http://127.0.0.1:5000",
        func=cmd_track,
    )
    add_experiment_arg(p)
    add_tracking_flags(
        p,
        experiment_default="the one the search recorded, else the experiment's name",
        uri_default="$MLFLOW_TRACKING_URI, else the one the search recorded",
    )
