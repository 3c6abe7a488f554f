"""Ctrl-C in ``glass-tune dashboard`` at each stage, in-process: signals raised here, servers faked (no process)."""

from __future__ import annotations

import io
import signal
import subprocess
from collections.abc import Callable, Iterator

import pytest

from glass_tune.report import dashboard


@pytest.fixture
def sigint_ignored() -> Iterator[None]:
    """SIGINT as a script's ``cmd &`` leaves it to the dashboard: ignored (issue 25)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGINT, previous)


class _Running:
    """A server process that runs until stopped; never signalled, since ``stop_servers`` is replaced."""

    pid = -1
    returncode = None

    def poll(self) -> int | None:
        return None


def _fake_servers(
    monkeypatch: pytest.MonkeyPatch, *, on_start: Callable[[str], object] = lambda name: None
) -> tuple[list[str], list[str]]:
    """Replace the experiment, the commands and the processes; returns (started, stopped) server names."""
    started: list[str] = []
    stopped: list[str] = []

    def start(name: str, command: list[str], port: int) -> dashboard.Server:
        started.append(name)
        on_start(name)
        return dashboard.Server(name, f"http://127.0.0.1:{port}/", port, _Running(), io.BytesIO())

    monkeypatch.setattr(dashboard, "open_experiment", lambda experiment: experiment)
    monkeypatch.setattr(dashboard, "server_commands", lambda view, **ports: {"TensorBoard": [], "optuna-dashboard": []})
    monkeypatch.setattr(dashboard, "_start_server", start)
    monkeypatch.setattr(dashboard, "stop_servers", lambda servers: stopped.extend(s.name for s in servers))
    return started, stopped


def test_the_stop_request_raises_until_deferred_then_only_records(sigint_ignored):
    stop = dashboard._StopRequest()
    with stop.installed():
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)  # handled although the parent left it ignored
        stop.defer()
        signal.raise_signal(signal.SIGINT)
        signal.raise_signal(signal.SIGTERM)
    assert stop.requested
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # the parent's choice again afterwards


def test_ctrl_c_while_opening_the_experiment_ends_with_0_and_starts_nothing(monkeypatch, sigint_ignored):
    started, stopped = _fake_servers(monkeypatch)
    monkeypatch.setattr(dashboard, "open_experiment", lambda experiment: signal.raise_signal(signal.SIGINT))
    assert dashboard.run_dashboards("exp") == 0
    assert started == stopped == []


def test_ctrl_c_inside_a_server_start_stops_it_and_starts_no_other(monkeypatch, sigint_ignored):
    """A Ctrl-C raised inside ``Popen`` used to lose the server it had just forked."""
    started, stopped = _fake_servers(monkeypatch, on_start=lambda name: signal.raise_signal(signal.SIGINT))
    assert dashboard.run_dashboards("exp") == 0
    assert started == stopped == ["TensorBoard"]


def test_sigterm_while_serving_stops_both(monkeypatch):
    started, stopped = _fake_servers(monkeypatch)
    monkeypatch.setattr(dashboard, "_wait_until_listening", lambda servers, stop: None)
    monkeypatch.setattr(dashboard.time, "sleep", lambda seconds: signal.raise_signal(signal.SIGTERM))  # a `kill` mid-tick
    assert dashboard.run_dashboards("exp") == 0
    assert stopped == started == ["TensorBoard", "optuna-dashboard"]


def test_a_server_that_dies_is_an_error_and_the_other_is_stopped(monkeypatch):
    _, stopped = _fake_servers(monkeypatch)
    monkeypatch.setattr(dashboard, "_wait_until_listening", lambda servers, stop: None)
    monkeypatch.setattr(_Running, "returncode", 1)
    monkeypatch.setattr(_Running, "poll", lambda self: self.returncode)
    monkeypatch.setattr(dashboard.Server, "log_tail", lambda self: "boom")
    with pytest.raises(dashboard.UserError, match="TensorBoard stopped .exit code 1.: boom"):
        dashboard.run_dashboards("exp")
    assert stopped == ["TensorBoard", "optuna-dashboard"]


def test_stop_servers_kills_a_server_that_ignores_sigterm(monkeypatch):
    signals: list[signal.Signals] = []

    class Stubborn(_Running):
        def wait(self, timeout: float | None = None) -> int:
            if timeout is not None:
                raise subprocess.TimeoutExpired("server", timeout)
            return -9

    monkeypatch.setattr(dashboard, "_signal_session", lambda process, sig: signals.append(sig))
    dashboard.stop_servers([dashboard.Server("TensorBoard", "", 1, Stubborn(), io.BytesIO())])
    assert signals == [signal.SIGTERM, signal.SIGKILL, signal.SIGKILL]
