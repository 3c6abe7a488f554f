"""``submit`` without a cluster: the options it passes through, the files it carries, its address rules."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

import glass_tune
from glass_tune.search.jobs import job_server_url, submit_search
from glass_tune.util.errors import UserError
from glass_tune.util.logs import setup_console
from tests.helpers.processes import (
    assert_one_line_error,
    run_cli,
    write_search_inputs,
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_search_inputs(tmp_path_factory.mktemp("job-inputs"))


# --- without a cluster --------------------------------------------------------------------------


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
    assert_one_line_error(
        run_cli("submit", "--storage", "runs/tune", "--address", "http://127.0.0.1:1"),
        "--storage runs/tune",
        "absolute path or a URI",
    )


class _BusyAgentClient:
    """Refuses like a head whose job agent is not serving yet, ``refusals`` times, then answers."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals

    def get_address(self) -> str:
        return "http://h:8265"

    def list_jobs(self) -> list:
        if self.refusals:
            self.refusals -= 1
            raise RuntimeError("Request failed with status code 500: No available agent to submit job, please try again later..")
        return []


def test_agent_calls_wait_for_the_job_agent_then_end_in_one_line(monkeypatch, capsys):
    from glass_tune.search import jobs

    monkeypatch.setattr(jobs.time, "sleep", lambda s: None)
    setup_console()
    assert jobs.list_jobs(client=_BusyAgentClient(refusals=3)) == []
    assert capsys.readouterr().err.count("job agent is not available yet") == 1  # said once
    monkeypatch.setattr(jobs, "AGENT_WAIT_S", 0.0)
    with pytest.raises(UserError, match=r"job agent did not become available .*dashboard_agent.log.*52365"):
        jobs.list_jobs(client=_BusyAgentClient(refusals=10**6))
    with pytest.raises(RuntimeError, match="boom"):  # other errors are not retried
        jobs.agent_call(lambda: (_ for _ in ()).throw(RuntimeError("boom")), client=_BusyAgentClient(0))
