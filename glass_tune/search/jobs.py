"""Searches as Ray jobs: submit, list, follow and stop them through a cluster's job server.

The job server lives in the Ray dashboard (``ray[default]``) at ``http://HEAD:8265``.  A submitted
job runs ``python -m glass_tune.cli tune ...`` on the head with the submitter's glass_tune,
trainables and search_spaces packages (``py_modules``), so the cluster runs the code that was
submitted, and with the local ``--config`` / ``--space`` files carried in the job's working
directory.  Storage and data are not carried: they must be paths (or URIs) every node sees.

Stopping: Ray's job server sends the entrypoint SIGTERM by default, which ``ray.init`` turns into
an abrupt exit.  Glass-tune jobs ask for SIGINT instead (``RAY_JOB_STOP_SIGNAL``), which Ray Tune
handles like Ctrl-C: the experiment state is saved, the driver prints the resume command and exits,
and ``--resume --name NAME`` continues the search.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from glass_tune import __version__
from glass_tune.search.cluster import token_auth_error, use_token_auth
from glass_tune.util.errors import UserError, message_line
from glass_tune.util.logs import get_logger

if TYPE_CHECKING:
    from ray.job_submission import JobDetails, JobSubmissionClient

ADDRESS_ENV_VARS = ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS")  # the order Ray's own job CLI reads them
METADATA_KEY = "glass_tune"  # marks a job as a glass-tune search (value: the submitter's version)
PACKAGES = ("glass_tune", "trainables", "search_spaces")
PASSED_ENV_VARS = ("RAY_AUTH_MODE", "HF_HUB_OFFLINE")  # never RAY_AUTH_TOKEN: job info is readable
STOP_WAIT_S = 60  # time Tune gets to save the experiment state before Ray kills the driver
TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")
AGENT_WAIT_S = float(os.environ.get("GLASS_TUNE_AGENT_WAIT_S", "60"))  # bound of the wait for the head's job agent
AGENT_PORT = 52365  # Ray's default --dashboard-agent-listen-port
# Ray's answers while the head's job agent is not (yet) serving: it registers some seconds after the
# head answers, and never when its HTTP port is taken ("failed to bind" in dashboard_agent.log).
_AGENT_UNAVAILABLE = ("no available agent", "try again later", "service unavailable", "status code 503")

log = get_logger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class JobRow:
    """One glass-tune job as ``glass-tune jobs`` lists it."""

    job_id: str
    status: str
    experiment: str
    started: str


# --- connecting ----------------------------------------------------------------------------------


def job_server_url(*, address: str | None) -> str:
    """``--address``, else RAY_API_SERVER_ADDRESS, else RAY_ADDRESS; ``HOST:PORT`` means http.

    Unlike Ray's client, a bare ``HOST:PORT`` is taken as the dashboard, not as a GCS address to
    look the dashboard up from (which hangs for 40 s when it is the dashboard's port).
    """
    value = address or next((os.environ[v] for v in ADDRESS_ENV_VARS if os.environ.get(v)), None)
    if not value:
        raise UserError("no job server address: pass --address http://HEAD:8265 (or set RAY_API_SERVER_ADDRESS)")
    url = value if "://" in value else f"http://{value}"
    if not url.startswith(("http://", "https://")):
        raise UserError(f"--address {value}: expected the job server's http://HOST:PORT (the dashboard, default port 8265)")
    return url.rstrip("/")


@contextmanager
def _only_address(url: str) -> Iterator[None]:
    """Ray's client lets RAY_ADDRESS override its argument; here the resolved URL wins."""
    saved = {v: os.environ.pop(v) for v in ADDRESS_ENV_VARS if v in os.environ}
    os.environ["RAY_API_SERVER_ADDRESS"] = url
    try:
        yield
    finally:
        os.environ.pop("RAY_API_SERVER_ADDRESS")
        os.environ.update(saved)


def connect(*, address: str | None) -> JobSubmissionClient:
    """A client of the job server, or one line saying why there is none."""
    url = job_server_url(address=address)
    use_token_auth()  # the same default as `tune --address`; Ray reads it when imported
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    # Ray's per-upload and websocket INFO lines (these loggers set their own level)
    for noisy in ("ray.dashboard.modules.job.sdk", "ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        with _only_address(url):
            return JobSubmissionClient(url)
    except ConnectionError:
        raise UserError(
            f"--address {url}: no Ray job server answers there (is the head up, started with its dashboard "
            "and ray[default]? `ray start --include-dashboard=false` has no job server)"
        ) from None
    except AuthenticationError:
        raise token_auth_error(url) from None
    except RuntimeError as exc:  # an HTTP server that is not Ray's job server
        raise UserError(f"--address {url}: not a Ray job server ({message_line(exc)})") from None


def agent_call(call: Callable[[], T], *, client: JobSubmissionClient) -> T:
    """``call()``, retried while the head's job agent is unavailable (said once, bounded by
    :data:`AGENT_WAIT_S`); when it never comes, one line naming the likely cause and where to look."""
    deadline = time.monotonic() + AGENT_WAIT_S
    said = False
    while True:
        try:
            return call()
        except RuntimeError as exc:
            if not any(m in str(exc).lower() for m in _AGENT_UNAVAILABLE):
                raise
            if time.monotonic() > deadline:
                raise UserError(
                    f"{client.get_address()}: the head's job agent did not become available in {AGENT_WAIT_S:g} s "
                    f"({message_line(exc).removeprefix('Request failed with status code 500: ').rstrip('.')}); "
                    "look at dashboard_agent.log in the head's Ray session logs (/tmp/ray/session_latest/logs): "
                    f"usually its HTTP port (--dashboard-agent-listen-port, default {AGENT_PORT}) is taken by another process"
                ) from None
            if not said:
                log.warning(f"the head's job agent is not available yet: waiting up to {AGENT_WAIT_S:g} s")
                said = True
            time.sleep(1)


def job_details(*, client: JobSubmissionClient, job_id: str) -> JobDetails:
    """The job's record, or one line when the server does not know it."""
    try:
        return agent_call(lambda: client.get_job_info(job_id), client=client)
    except RuntimeError as exc:
        if "does not exist" in str(exc) or "404" in str(exc):
            raise UserError(f"job {job_id}: no such job on {client.get_address()} (see glass-tune jobs)") from None
        raise


# --- submitting ----------------------------------------------------------------------------------


def check_storage(*, storage: str) -> None:
    """A job's working directory is a temporary folder on the head: relative storage would vanish."""
    if "://" not in storage and not Path(storage).is_absolute():
        raise UserError(f"--storage {storage}: a job needs an absolute path or a URI that every node of the cluster sees")


def _carry(*, value: str | None, kind: str, staging: Path) -> str | None:
    """Copy a local input file into the job's working directory; return its path there.

    A value that is not a local file (a bundled space name) passes through unchanged.
    """
    if value is None or not Path(value).expanduser().is_file():
        return value
    source = Path(value).expanduser()
    (staging / kind).mkdir(exist_ok=True)
    shutil.copy2(source, staging / kind / source.name)  # same file name: a space is named after it
    return f"{kind}/{source.name}"


def job_runtime_env(*, working_dir: Path, env: Mapping[str, str]) -> dict[str, object]:
    """What the job needs on the cluster: this code, the carried inputs, the stop signal, env vars."""
    modules = [str(Path(importlib.import_module(name).__file__).parent) for name in PACKAGES]
    env_vars = {v: os.environ[v] for v in PASSED_ENV_VARS if v in os.environ}
    env_vars.update(
        RAY_JOB_STOP_SIGNAL="SIGINT",
        RAY_JOB_STOP_WAIT_TIME_S=str(STOP_WAIT_S),
        PYTHONUNBUFFERED="1",
        **env,
    )
    return {
        "working_dir": str(working_dir),
        "py_modules": modules,
        "excludes": ["__pycache__", "*.pyc"],
        "env_vars": env_vars,
    }


def parse_env(*, pairs: Sequence[str]) -> dict[str, str]:
    """``--env KEY=VALUE`` flags as a mapping."""
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--env {pair}: expected KEY=VALUE")
        env[key] = value
    return env


def submit_search(
    *,
    client: JobSubmissionClient,
    tune_args: Sequence[str],
    name: str,
    storage: str,
    config: str | None,
    space: str | None,
    data: str | None,
    env: Mapping[str, str],
) -> str:
    """Submit ``glass-tune tune`` as a job; return its id.

    ``tune_args`` are the tune flags other than --config, --space, --data, --name, --storage and
    --address, which this function sets: the files are carried, a relative data root is made
    absolute (it must be where the cluster sees it), and the driver joins the job's own cluster.
    """
    check_storage(storage=storage)
    if data is not None:
        tune_args = [*tune_args, "--data", data if "://" in data else str(Path(data).expanduser().resolve())]
    with tempfile.TemporaryDirectory(prefix="glass-tune-job-") as tmp:
        staging = Path(tmp)
        carried = {
            "--config": _carry(value=config, kind="config", staging=staging),
            "--space": _carry(value=space, kind="space", staging=staging),
        }
        args = ["tune", *tune_args, "--name", name, "--storage", storage, "--address", "auto"]
        for flag, value in carried.items():
            if value is not None:
                args += [flag, value]
        entrypoint = shlex.join(["python", "-m", "glass_tune.cli", *args])
        metadata = {METADATA_KEY: __version__, "experiment": name, "storage": storage}
        if carried["--space"] != space:  # a resumed search reads its space file again (see resume_hint)
            metadata["space"] = str(Path(space).expanduser().resolve())
        runtime_env = job_runtime_env(working_dir=staging, env=env)
        return agent_call(
            lambda: client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env, metadata=metadata), client=client
        )


# --- listing, logs, stopping ---------------------------------------------------------------------


def _started(details: JobDetails) -> str:
    if not details.start_time:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(details.start_time / 1000)) + " UTC"


def list_jobs(*, client: JobSubmissionClient) -> list[JobRow]:
    """The glass-tune jobs on the cluster, oldest first (other jobs are left out)."""
    jobs = [j for j in agent_call(client.list_jobs, client=client) if (j.metadata or {}).get(METADATA_KEY) and j.submission_id]
    jobs.sort(key=lambda j: j.start_time or 0)
    return [
        JobRow(
            job_id=j.submission_id, status=str(j.status.value), experiment=j.metadata.get("experiment", "?"), started=_started(j)
        )
        for j in jobs
    ]


def format_jobs(*, rows: Sequence[JobRow]) -> str:
    """An aligned table (header included), or a line saying there are none."""
    if not rows:
        return "no glass-tune jobs on this cluster"
    table = [("JOB", "STATUS", "EXPERIMENT", "STARTED")] + [(r.job_id, r.status, r.experiment, r.started) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(3)]
    return "\n".join("  ".join([*(cell.ljust(w) for cell, w in zip(row, widths)), row[3]]) for row in table)


def print_logs(*, client: JobSubmissionClient, job_id: str, follow: bool) -> str:
    """Write the job's output so far (or until it ends, with ``follow``) to stdout; return its status."""
    job_details(client=client, job_id=job_id)  # an unknown id is one line, not Ray's HTTP error
    if follow:
        asyncio.run(_follow(client=client, job_id=job_id))
    else:
        sys.stdout.write(agent_call(lambda: client.get_job_logs(job_id), client=client))
    sys.stdout.flush()
    return str(agent_call(lambda: client.get_job_status(job_id), client=client).value)


async def _follow(*, client: JobSubmissionClient, job_id: str) -> None:
    async for chunk in client.tail_job_logs(job_id):
        sys.stdout.write(chunk)
        sys.stdout.flush()


def wait_for_end(*, client: JobSubmissionClient, job_id: str, timeout_s: float) -> str:
    """Poll until the job is SUCCEEDED, FAILED or STOPPED (or the timeout); return the last status."""
    deadline = time.monotonic() + timeout_s
    while True:
        status = str(client.get_job_status(job_id).value)
        if status in TERMINAL or time.monotonic() > deadline:
            return status
        time.sleep(1)


def stop_job(*, client: JobSubmissionClient, job_id: str) -> JobDetails:
    """Ask the job to stop (SIGINT: Tune saves its state) and wait until it has; return its record."""
    details = job_details(client=client, job_id=job_id)
    if str(details.status.value) not in TERMINAL:
        agent_call(lambda: client.stop_job(job_id), client=client)
        wait_for_end(client=client, job_id=job_id, timeout_s=STOP_WAIT_S + 30)
    return job_details(client=client, job_id=job_id)


def resume_hint(*, details: JobDetails, address: str) -> str:
    """The command that continues a stopped search as a new job.

    A search records its space file by the path it was read from, which for a carried file is
    relative to the job's working directory: carrying the same file again makes that path valid.
    """
    meta = details.metadata or {}
    args = [
        "glass-tune",
        "submit",
        "--address",
        address,
        "--resume",
        "--name",
        meta.get("experiment", "NAME"),
        "--storage",
        meta.get("storage", "STORAGE"),
    ]
    if "space" in meta:
        args += ["--space", meta["space"]]
    return shlex.join(args)
