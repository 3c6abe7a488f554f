"""``glass-tune submit``, ``jobs``, ``logs``, ``stop``: the search as a job on a cluster's job server
(:mod:`glass_tune.search.jobs`)."""

from __future__ import annotations

import argparse
import sys

from glass_tune.cli.common import add_verb, config_from_args
from glass_tune.cli.search import add_tune_flags
from glass_tune.search.options import default_name
from glass_tune.util.errors import UserError
from glass_tune.util.logs import get_logger

log = get_logger(__name__)

# tune flags that submit sets itself (carried, resolved or replaced), not passed through as given
_SUBMIT_OWN = ("address", "config", "space", "data", "storage", "name")

_ADDRESS_HELP = (
    "the cluster's job server (the Ray dashboard), e.g. http://HEAD:8265 (default: $RAY_API_SERVER_ADDRESS, else $RAY_ADDRESS)"
)


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
    from glass_tune.model.glass import check_buildable
    from glass_tune.search.jobs import check_storage, connect, parse_env, submit_search
    from glass_tune.search.space import load_search_space
    from glass_tune.tracking.backends import check_tracker
    from glass_tune.tracking.tracker import TrackerSettings, tracking_uri

    if args.resume and not args.name:
        raise UserError("--resume needs --name NAME of the experiment to continue")
    if not args.resume:  # what the job's driver would refuse at once; the weights are the cluster's to find
        space = load_search_space(args.space)
        check_buildable(space.shape_extremes(config_from_args(args, fixed=space.fixed)), weights_at_hand=False)
    env = parse_env(pairs=args.env or ())
    check_storage(storage=args.storage)
    name = args.name or default_name()
    args.mlflow = tracking_uri(args.mlflow)  # the job's driver gets this machine's MLFLOW_TRACKING_URI as a flag
    if args.mlflow:
        check_tracker(TrackerSettings(uri=args.mlflow, experiment=args.mlflow_experiment or name))
    client = connect(address=args.address)
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


def _add_address_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--address", metavar="URL", help=_ADDRESS_HELP)


def _add_job_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB", help="job id, as submit printed it or jobs lists it")


def register(sub: argparse._SubParsersAction, *, tune: argparse.ArgumentParser) -> None:
    """``tune``: the tune parser, whose flags submit passes through to the job."""
    p = add_verb(
        sub,
        "submit",
        summary="run a search (the tune options) as a Ray job on a cluster",
        description="Run `glass-tune tune` as a Ray job on a cluster's job server: this glass-tune code and "
        "the --config/--space files travel with the job; --data and --storage must be paths (or URIs) the "
        "cluster's nodes see. The job runs `python -m glass_tune.cli tune` with the head's `python`. "
        "Every tune flag applies.",
        example="glass-tune submit --address http://HEAD:8265 --storage /shared/runs --data /shared/mvtec "
        "--category bottle --samples 32 --name bottle-1",
        func=cmd_submit,
    )
    _add_address_flag(p)
    p.add_argument(
        "--storage",
        required=True,
        metavar="DIR|URI",
        help="experiments folder as the cluster sees it: an absolute shared path or a URI (required, no default)",
    )
    p.add_argument(
        "--env", action="append", metavar="KEY=VALUE", help="environment variable of the job; repeatable (default: none)"
    )
    add_tune_flags(p, job=True)
    p.set_defaults(tune_parser=tune)

    p = add_verb(
        sub,
        "jobs",
        summary="list the glass-tune jobs of a cluster",
        description="List the glass-tune searches the cluster's job server knows: job id, status, "
        "experiment and start time. Jobs that are not glass-tune searches are left out.",
        example="glass-tune jobs --address http://HEAD:8265",
        func=cmd_jobs,
    )
    _add_address_flag(p)

    p = add_verb(
        sub,
        "logs",
        summary="print a job's output",
        description="Print what a submitted search has written so far; with --follow keep printing until "
        "the job ends, then exit 0 when it succeeded and 1 otherwise.",
        example="glass-tune logs raysubmit_XXXX --follow --address http://HEAD:8265",
        func=cmd_logs,
    )
    _add_job_arg(p)
    p.add_argument("--follow", action="store_true", help="keep printing until the job ends")
    _add_address_flag(p)

    p = add_verb(
        sub,
        "stop",
        summary="stop a job; its search stays resumable (submit --resume --name)",
        description="Stop a submitted search the way Ctrl-C stops a local one: Ray Tune saves the "
        "experiment state, and the command that continues it is printed.",
        example="glass-tune stop raysubmit_XXXX --address http://HEAD:8265",
        func=cmd_stop,
    )
    _add_job_arg(p)
    _add_address_flag(p)
