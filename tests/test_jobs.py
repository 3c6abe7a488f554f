"""``submit`` / ``jobs`` / ``logs`` / ``stop`` against a real local Ray head with its job server.

The head runs in its own PID namespace (``unshare --pid --fork --mount-proc --kill-child``) in its
own process session: killing that session ends every Ray process of the test, and nothing else
(``ray stop`` would end every Ray on the machine).  One head serves the whole module.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import glass_tune
from glass_tune.cli.jobs import _SUBMIT_OWN, _tune_argv
from glass_tune.cli.main import build_parser
from glass_tune.search.jobs import job_server_url, submit_search
from glass_tune.util.errors import UserError
from tests.process_helpers import ONE_TRIAL_AT_A_TIME, cli_argv, free_port, write_search_inputs

VENV_BIN = str(Path(sys.executable).parent)


def _env() -> dict[str, str]:
    """The user's shell: the venv first on PATH (the head's `python` runs the job), token auth."""
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_API_SERVER_ADDRESS")}
    return {**env, "RAY_AUTH_MODE": "token", "PATH": f"{VENV_BIN}:{env.get('PATH', '')}"}


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
    head = subprocess.Popen(args, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True, env=_env())
    deadline = time.monotonic() + 90
    while "Ray runtime started" not in log.read_text():
        assert time.monotonic() < deadline and head.poll() is None, log.read_text()[-2000:]
        time.sleep(0.5)
    return head, dashboard


def _end(head: subprocess.Popen) -> None:
    """Kill the head's session; --kill-child takes the whole PID namespace with it."""
    try:
        os.killpg(head.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    head.wait(timeout=30)


@pytest.fixture(scope="module")
def head() -> Iterator[str]:
    """The job server URL of a 2-CPU head that serves every test of the module."""
    temp_dir = Path(tempfile.mkdtemp(prefix="gt-jobs-"))  # short: Ray's socket paths have a length limit
    proc, port = _start_head(temp_dir)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:  # the job server answers a little after the runtime: 401 without a token
            try:
                urllib.request.urlopen(f"{url}/api/version", timeout=2)
                break
            except urllib.error.HTTPError:
                break
            except OSError:
                assert time.monotonic() < deadline, (temp_dir / "head.log").read_text()[-2000:]
                time.sleep(0.5)
        yield url
    finally:
        _end(proc)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_search_inputs(tmp_path_factory.mktemp("job-inputs"))


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run(cli_argv(*args), capture_output=True, text=True, timeout=timeout, env=_env())


def _job_id(submitted: subprocess.CompletedProcess) -> str:
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    first = submitted.stdout.splitlines()[0]
    assert first.startswith("submitted job "), submitted.stdout
    return first.split()[2].rstrip(":")


def _wait_for_log(url: str, job: str, text: str, timeout: float = 240) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = _cli("logs", job, "--address", url).stdout
        if text in out:
            return out
        assert time.monotonic() < deadline, out[-3000:]
        time.sleep(2)


def _one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


# --- without a cluster --------------------------------------------------------------------------


def test_submit_passes_the_tune_options_through():
    parser = build_parser()
    argv = [
        "submit",
        "--address",
        "http://h:8265",
        "--storage",
        "/shared/runs",
        "--category",
        "a",
        "b",
        "--set",
        "step=3",
        "--set",
        "svd=1",
        "--samples",
        "4",
        "--seed",
        "0",
        "--resume",
        "--name",
        "x",
        "--env",
        "K=V",
    ]
    args = parser.parse_args(argv)
    passed = _tune_argv(args.tune_parser, args)
    assert passed == ["--set", "step=3", "--set", "svd=1", "--category", "a", "b", "--samples", "4", "--seed", "0", "--resume"]
    quiet = parser.parse_args(["submit", "-q", *argv[1:]])
    assert _tune_argv(quiet.tune_parser, quiet)[-1] == "-q"  # verbosity travels as a flag, not a value
    again = parser.parse_args(["tune", *passed])  # the job's tune sees every option as given, defaults as defaults
    passed_through = {a.dest for a in args.tune_parser._actions if a.option_strings} - {"help", *_SUBMIT_OWN}
    assert {d: getattr(again, d) for d in passed_through} == {d: getattr(args, d) for d in passed_through}


def test_job_server_address_precedence(monkeypatch):
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.1:8265")
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "http://10.0.0.2:8265")
    assert job_server_url(address="http://head:8265/") == "http://head:8265"
    assert job_server_url(address=None) == "http://10.0.0.2:8265"
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS")
    assert job_server_url(address=None) == "http://10.0.0.1:8265"  # HOST:PORT is the dashboard
    monkeypatch.delenv("RAY_ADDRESS")
    with pytest.raises(UserError, match="--address"):
        job_server_url(address=None)
    with pytest.raises(UserError, match="ray://h:10001"):
        job_server_url(address="ray://h:10001")


class _RecordingClient:
    """Stands in for JobSubmissionClient: keeps what would be submitted, and the carried files."""

    def submit_job(self, *, entrypoint: str, runtime_env: dict, metadata: dict) -> str:
        folder = Path(runtime_env["working_dir"])
        self.carried = {str(p.relative_to(folder)): p.read_text() for p in folder.rglob("*") if p.is_file()}
        self.entrypoint, self.runtime_env, self.metadata = entrypoint, runtime_env, metadata
        return "raysubmit_test"


def test_submit_carries_files_and_code(inputs, tmp_path, monkeypatch):
    config, space = inputs
    monkeypatch.chdir(tmp_path)
    client = _RecordingClient()
    job = submit_search(
        client=client,
        tune_args=["--samples", "2"],
        name="n",
        storage="/shared/runs",
        config=str(config),
        space="cpu_smoke",
        data="data",
        env={"K": "V"},
    )
    assert job == "raysubmit_test"
    assert shlex.split(client.entrypoint) == [
        "python",
        "-m",
        "glass_tune.cli",
        "tune",
        "--samples",
        "2",
        "--data",
        str(tmp_path / "data"),
        "--name",
        "n",
        "--storage",
        "/shared/runs",
        "--address",
        "auto",
        "--config",
        "config/tiny.yaml",
        "--space",
        "cpu_smoke",
    ]  # a bundled space name passes as it is
    assert client.carried == {"config/tiny.yaml": config.read_text()}
    assert [Path(m).name for m in client.runtime_env["py_modules"]] == ["glass_tune", "trainables", "search_spaces"]
    env = client.runtime_env["env_vars"]
    assert env["RAY_JOB_STOP_SIGNAL"] == "SIGINT" and env["K"] == "V" and "RAY_AUTH_TOKEN" not in env
    assert client.metadata == {"glass_tune": glass_tune.__version__, "experiment": "n", "storage": "/shared/runs"}

    submit_search(
        client=client, tune_args=[], name="n", storage="s3://bucket/runs", config=None, space=str(space), data=None, env={}
    )
    assert client.carried == {"space/space.yaml": space.read_text()}
    assert client.metadata["space"] == str(space)  # for the resume command that stop prints


def test_submit_refuses_relative_storage_before_connecting():
    _one_line_error(
        _cli("submit", "--storage", "runs/tune", "--address", "http://127.0.0.1:1"),
        "--storage runs/tune",
        "absolute path or a URI",
    )


# --- against a real head ------------------------------------------------------------------------


@pytest.mark.integration
@pytest.mark.slow  # about 4 minutes: `make test-resilience` (CI runs it after `make test`)
def test_submit_list_logs_stop_resume_and_finish(head, inputs, synthetic_root, tmp_path):
    config, space = inputs
    storage = tmp_path / "runs"
    # one trial at a time and three of them: the stop below lands while the search has trials to run
    submitted = _cli(
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
        env=_env(),
    ).stdout.strip()
    listed = _cli("jobs", "--address", head)
    assert listed.returncode == 0, listed.stderr
    assert other.startswith("raysubmit_") and other not in listed.stdout, (other, listed.stdout)
    row = next(line.split() for line in listed.stdout.splitlines() if line.startswith(job))
    assert row[1] in ("PENDING", "RUNNING") and row[2] == "st", listed.stdout

    log = _wait_for_log(head, job, "epoch 1:")  # the search's progress lines, without --follow
    assert "[tune weave]" in log
    assert "--config config/tiny.yaml --space space/space.yaml" in log  # the files travelled with the job

    stopped = _cli("stop", job, "--address", head)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert f"job {job}: STOPPED" in stopped.stdout
    resume = stopped.stdout.split("continue the search with: ", 1)[1].strip()
    # the space file is carried again: the search recorded it by its path in the job's folder
    assert resume == f"glass-tune submit --address {head} --resume --name st --storage {storage} --space {space}"
    log = _cli("logs", job, "--address", head).stdout
    assert "interrupted" in log and "Traceback" not in log, log[-3000:]  # Tune saved its state (SIGINT)
    assert not (storage / "st" / "weave" / "best_config.yaml").exists()

    again = _job_id(_cli(*shlex.split(resume)[1:]))
    followed = _cli("logs", again, "--follow", "--address", head, timeout=500)
    assert followed.returncode == 0, followed.stdout[-3000:] + followed.stderr[-2000:]
    assert f"job {again} SUCCEEDED" in followed.stderr
    assert "resuming the interrupted search" in followed.stdout and "[tune weave]" in followed.stdout
    assert len(list((storage / "st" / "weave").glob("trial_*"))) == 3
    assert (storage / "st" / "weave" / "best_config.yaml").is_file()

    rows = {line.split()[0]: line.split()[1:3] for line in _cli("jobs", "--address", head).stdout.splitlines()}
    assert rows[job] == ["STOPPED", "st"] and rows[again] == ["SUCCEEDED", "st"], rows


@pytest.mark.integration
def test_unknown_job_is_one_line(head):
    for verb in ("logs", "stop"):
        _one_line_error(_cli(verb, "raysubmit_nosuchjob", "--address", head), "raysubmit_nosuchjob", "no such job")


@pytest.mark.integration
def test_unreachable_address_is_one_line():
    url = f"http://127.0.0.1:{free_port()}"
    _one_line_error(_cli("jobs", "--address", url), url, "no Ray job server")


@pytest.mark.integration
def test_cluster_without_job_server_is_one_line(tmp_path):
    temp_dir = Path(tempfile.mkdtemp(prefix="gt-nodash-"))
    proc, port = _start_head(temp_dir, "--include-dashboard=false")
    try:
        url = f"http://127.0.0.1:{port}"
        _one_line_error(_cli("submit", "--address", url, "--storage", str(tmp_path)), url, "no job server")
    finally:
        _end(proc)
