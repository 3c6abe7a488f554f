"""``submit`` / ``jobs`` / ``logs`` / ``stop`` against a real local Ray head with its job server.

The head runs in its own PID namespace (``unshare --pid --fork --mount-proc --kill-child``) in its
own process session: killing that session ends every Ray process of the test, and nothing else
(``ray stop`` would end every Ray on the machine).  One head serves the whole module.
"""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import wait_until
from tests.helpers.processes import (
    NO_CONFIRM,
    ONE_TRIAL_AT_A_TIME,
    VENV_BIN,
    assert_one_line_error,
    cli_argv,
    free_port,
    run_cli,
    user_env,
    wait_for_text,
    write_search_inputs,
)


def _start_head(temp_dir: Path, *extra: str) -> tuple[subprocess.Popen, int]:
    """A `ray start --head` in its own PID namespace and session; returns it and its dashboard port."""
    dashboard, gcs = free_port(), free_port()
    args = [
        "unshare",
        "--pid",
        "--fork",
        "--mount-proc",
        "--kill-child",
        f"{VENV_BIN}/ray",
        "start",
        "--head",
        "--dashboard-host",
        "127.0.0.1",
        "--dashboard-port",
        str(dashboard),
        "--port",
        str(gcs),
        "--ray-client-server-port",
        str(free_port()),
        "--dashboard-agent-listen-port",
        str(free_port()),
        "--temp-dir",
        str(temp_dir),
        "--num-cpus",
        "2",
        "--block",
        *extra,
    ]
    log = temp_dir / "head.log"
    head = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, env=user_env())
    wait_for_text(log, "Ray runtime started", head, 90)
    return head, dashboard


def _end(head: subprocess.Popen) -> None:
    """Kill the head's session; --kill-child takes the whole PID namespace with it."""
    try:
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    head.wait(timeout=30)


def _answers(url: str) -> bool:
    """Whether an HTTP server answers at ``url``, with any status."""
    try:
        urllib.request.urlopen(url, timeout=2)
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False
    return True


@pytest.fixture(scope="module")
def head() -> Iterator[str]:
    """The job server URL of a 2-CPU head that serves every test of the module."""
    temp_dir = Path(tempfile.mkdtemp(prefix="gt-jobs-"))  # short: Ray's socket paths have a length limit
    proc, port = _start_head(temp_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        # the job server answers a little after the runtime: 401 without a token
        wait_until(lambda: _answers(f"{url}/api/version"), 90, describe=lambda: (temp_dir / "head.log").read_text()[-2000:])
        yield url
    finally:
        _end(proc)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_search_inputs(tmp_path_factory.mktemp("job-inputs"))


def _job_id(submitted: subprocess.CompletedProcess) -> str:
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    first = submitted.stdout.splitlines()[0]
    assert first.startswith("submitted job "), submitted.stdout
    return first.split()[2].rstrip(":")


def _wait_for_log(url: str, job: str, text: str, timeout: float = 240) -> str:
    last = [""]

    def logged() -> str | None:
        last[0] = run_cli("logs", job, "--address", url).stdout
        return last[0] if text in last[0] else None

    return wait_until(logged, timeout, 2, describe=lambda: last[0][-3000:])


# --- against a real head ------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow  # about 4 minutes: `make test-resilience` (CI runs it after `make test`)
def test_submit_list_logs_stop_resume_and_finish(head, inputs, synthetic_root, tmp_path):
    config, space = inputs
    storage = tmp_path / "runs"
    # one trial at a time and three of them: the stop below lands while the search has trials to run
    submitted = run_cli(
        "submit",
        "--address",
        head,
        "--data",
        str(synthetic_root),
        "--category",
        "weave",
        "--config",
        str(config),
        "--space",
        str(space),
        *NO_CONFIRM,
        "--samples",
        "3",
        "--epochs",
        "3",
        *ONE_TRIAL_AT_A_TIME,
        "--cpus-per-trial",
        "1",
        "--storage",
        str(storage),
        "--name",
        "st",
    )
    job = _job_id(submitted)
    assert f"glass-tune logs {job} --follow --address {head}" in submitted.stdout
    assert submitted.stderr == ""  # Ray's per-upload INFO lines are kept quiet

    other = subprocess.run(  # a job that is not a glass-tune search
        [
            sys.executable,
            "-c",
            "import sys; from ray.job_submission import JobSubmissionClient; "
            "print(JobSubmissionClient(sys.argv[1]).submit_job(entrypoint='echo other'))",
            head,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=user_env(),
    ).stdout.strip()
    listed = run_cli("jobs", "--address", head)
    assert listed.returncode == 0, listed.stderr
    assert other.startswith("raysubmit_") and other not in listed.stdout, (other, listed.stdout)
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith(job))
    assert row[1] in ("PENDING", "RUNNING") and row[2] == "st", listed.stdout

    log = _wait_for_log(head, job, "epoch 1:")  # the search's progress lines, without --follow
    assert "[tune weave]" in log
    assert "--config config/tiny.yaml --space space/space.yaml" in log  # the files travelled with the job

    stopped = run_cli("stop", job, "--address", head)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"job {job}: STOPPED" in stopped.stdout
    resume = stopped.stdout.split("continue the search with: ", 1)[1].strip()
    # the space file is carried again: the search recorded it by its path in the job's folder
    assert resume == f"glass-tune submit --address {head} --resume --name st --storage {storage} --space {space}"
    log = run_cli("logs", job, "--address", head).stdout
    assert "interrupted" in log and "Traceback" not in log, log[-3000:]  # Tune saved its state (SIGINT)
    assert not (storage / "st" / "weave" / "best_config.yaml").exists()

    again = _job_id(run_cli(*shlex.split(resume)[1:]))
    followed = run_cli("logs", again, "--follow", "--address", head, timeout=500)
    assert followed.returncode == 0, followed.stdout[-3000:] + followed.stderr[-2000:]
    assert f"job {again} SUCCEEDED" in followed.stderr
    assert "resuming the interrupted search" in followed.stdout and "[tune weave]" in followed.stdout
    assert len(list((storage / "st" / "weave").glob("trial_*"))) == 3
    assert (storage / "st" / "weave" / "best_config.yaml").is_file()

    rows = {line.split()[0]: line.split()[1:3] for line in run_cli("jobs", "--address", head).stdout.splitlines()}
    assert rows[job] == ["STOPPED", "st"] and rows[again] == ["SUCCEEDED", "st"], rows


@pytest.mark.integration
def test_unknown_job_is_one_line(head):
    for verb in ("logs", "stop"):
        assert_one_line_error(run_cli(verb, "raysubmit_nosuchjob", "--address", head), "raysubmit_nosuchjob", "no such job")


@pytest.mark.integration
def test_unreachable_address_is_one_line():
    url = f"http://127.0.0.1:{free_port()}"
    assert_one_line_error(run_cli("jobs", "--address", url), url, "no Ray job server")


@pytest.mark.integration
def test_cluster_without_job_server_is_one_line(tmp_path):
    temp_dir = Path(tempfile.mkdtemp(prefix="gt-nodash-"))
    proc, port = _start_head(temp_dir, "--include-dashboard=false")
    try:
        url = f"http://127.0.0.1:{port}"
        assert_one_line_error(run_cli("submit", "--address", url, "--storage", str(tmp_path)), url, "no job server")
    finally:
        _end(proc)


def _submit_now(url: str, storage: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """A submit whose job ends at once (the job's tune finds no experiment to resume): the submit is tested."""
    args = ["submit", "--address", url, "--storage", str(storage), "--resume", "--name", "absent"]
    return subprocess.run(cli_argv(*args), capture_output=True, text=True, timeout=180, env={**user_env(), **(env or {})})


@pytest.mark.integration
def test_submit_right_after_the_head_starts_returns_a_job_id(tmp_path):
    temp_dir = Path(tempfile.mkdtemp(prefix="gt-fresh-"))
    proc, port = _start_head(temp_dir)  # returns as soon as `ray start` says the runtime started
    try:
        _job_id(_submit_now(f"http://127.0.0.1:{port}", tmp_path))  # the agent registers later: submit waits
    finally:
        _end(proc)


@pytest.mark.integration
def test_head_whose_agent_port_is_taken_is_one_line(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        temp_dir = Path(tempfile.mkdtemp(prefix="gt-agent-"))
        proc, port = _start_head(temp_dir, "--dashboard-agent-listen-port", str(taken.getsockname()[1]))
        try:
            result = _submit_now(f"http://127.0.0.1:{port}", tmp_path, env={"GLASS_TUNE_AGENT_WAIT_S": "20"})
        finally:
            _end(proc)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert "waiting up to 20 s" in lines[0] and len(lines) == 2, result.stderr  # the wait is said, then one error line
    assert "job agent did not become available" in lines[1] and "dashboard_agent.log" in lines[1], lines[1]
