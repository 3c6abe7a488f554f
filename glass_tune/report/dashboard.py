"""``glass-tune dashboard``: TensorBoard on the experiment and optuna-dashboard on its study.

Both servers bind to 127.0.0.1 only (a study and its trials are nobody else's business; use an SSH
tunnel to look from elsewhere).  Each runs in its own process session, so stopping one stops
everything it started, and nothing else on the machine is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import IO

from glass_tune.experiment.view import ExperimentView, open_experiment
from glass_tune.util.errors import UserError
from glass_tune.util.logs import get_logger

log = get_logger(__name__)

HOST = "127.0.0.1"
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 5.0
TICK_S = 0.25  # how often the loops look at the servers and at a stop request


@dataclass
class Server:
    name: str
    url: str
    port: int
    process: subprocess.Popen
    log: IO[bytes]

    def log_tail(self, lines: int = 5) -> str:
        self.log.flush()
        text = Path(self.log.name).read_text(encoding="utf-8", errors="replace")
        return " | ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip())


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _optuna_dashboard_executable() -> str:
    beside = Path(sys.executable).parent / "optuna-dashboard"
    found = str(beside) if beside.is_file() else shutil.which("optuna-dashboard")
    if found is None:
        raise UserError("optuna-dashboard is not installed (pip install 'glass-tune[dashboard]')")
    return found


def study_arguments(view: ExperimentView, *, cache: Path) -> list[str]:
    """optuna-dashboard's storage arguments for wherever the study lives.

    An RDB URL is passed as is; a journal file by its path with ``--storage-class JournalFileStorage``
    (optuna-dashboard 0.21 opens journal files; the class is named rather than guessed from the
    file).  On object storage the journal is downloaded to ``cache`` first: the dashboard shows a
    snapshot of the study as uploaded at that moment."""
    store = view.study_store(cache=cache)
    if store.url is not None and "://" in store.url:
        return [store.url]
    if store.mirrored:
        store.open()  # downloads the uploaded journal into cache
    journal = Path(store.url) if store.url is not None else store.journal
    return [str(journal), "--storage-class", "JournalFileStorage"]


def server_commands(view: ExperimentView, *, tensorboard_port: int, optuna_port: int, cache: Path) -> dict[str, list[str]]:
    return {
        "TensorBoard": [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(view.location),
            "--host",
            HOST,
            "--port",
            str(tensorboard_port),
        ],
        "optuna-dashboard": [
            _optuna_dashboard_executable(),
            *study_arguments(view, cache=cache),
            "--host",
            HOST,
            "--port",
            str(optuna_port),
        ],
    }


def _start_server(name: str, command: list[str], port: int) -> Server:
    log = tempfile.NamedTemporaryFile(prefix=f"glass-tune-{name}-", suffix=".log")  # noqa: SIM115 (closed in stop)
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    return Server(name, f"http://{HOST}:{port}/", port, process, log)


def _wait_until_listening(servers: Sequence[Server], stop: _StopRequest) -> None:
    """Return once every server accepts connections, or as soon as a stop is requested."""
    deadline = time.monotonic() + START_TIMEOUT_S
    pending = list(servers)
    while pending and not stop.requested:
        for server in list(pending):
            if server.process.poll() is not None:
                raise UserError(f"{server.name} exited with code {server.process.returncode}: {server.log_tail()}")
            try:
                with socket.create_connection((HOST, server.port), timeout=0.5):
                    pending.remove(server)
            except OSError:
                pass
        if pending and time.monotonic() > deadline:
            raise UserError(f"{pending[0].name} did not start listening on port {pending[0].port} within {START_TIMEOUT_S:.0f} s")
        if pending:
            time.sleep(TICK_S)


def stop_servers(servers: Sequence[Server]) -> None:
    """SIGTERM each server's process session, SIGKILL what is left after a grace period."""
    for server in servers:
        _signal_session(server.process, signal.SIGTERM)
    for server in servers:
        try:
            server.process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            log.info(f"{server.name} did not stop within {STOP_TIMEOUT_S:g} s of SIGTERM; killing it")
            _signal_session(server.process, signal.SIGKILL)
            server.process.wait()
        _signal_session(server.process, signal.SIGKILL)  # children the leader left behind
        server.log.close()


def _signal_session(process: subprocess.Popen, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)  # start_new_session: the group id is the leader's pid


class _StopRequest:
    """The dashboard's own handler of Ctrl-C (SIGINT) and SIGTERM.

    Python turns SIGINT into KeyboardInterrupt only when the parent left it at its default; a
    dashboard started as ``cmd &`` by a script (or by a test run so started) inherits it ignored and
    served on through Ctrl-C (issue 25).  Until ``defer()`` a signal raises KeyboardInterrupt: no
    server runs yet, and a remote journal's download is cut short.  After it a signal only sets
    ``requested``, which the loops check: an exception raised between two bytecodes could lose a
    server that ``Popen`` had just forked, or leave a ``Popen``'s waitpid lock taken so that
    stopping that server blocks forever.
    """

    def __init__(self) -> None:
        self.requested = False
        self._deferred = False

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.requested = True
        if not self._deferred:
            raise KeyboardInterrupt

    def defer(self) -> None:
        self._deferred = True

    @contextlib.contextmanager
    def installed(self) -> Iterator[_StopRequest]:
        """Handle SIGINT and SIGTERM here, whatever the parent left; the previous handlers afterwards."""
        previous = {sig: signal.signal(sig, self) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, signal.SIG_DFL if handler is None else handler)  # None: set outside Python


def run_dashboards(experiment: str | Path, *, tensorboard_port: int = 0, optuna_port: int = 0) -> int:
    """Serve until Ctrl-C or SIGTERM, which end it with 0 at any moment (a server that dies is an error)."""
    stop = _StopRequest()
    servers: list[Server] = []
    cache_dir = tempfile.TemporaryDirectory(prefix="glass-tune-dashboard-")  # the study journal's copy, if remote
    with stop.installed(), cache_dir as cache:
        try:
            view = open_experiment(experiment)
            ports = {"TensorBoard": tensorboard_port or free_port(), "optuna-dashboard": optuna_port or free_port()}
            commands = server_commands(
                view, tensorboard_port=ports["TensorBoard"], optuna_port=ports["optuna-dashboard"], cache=Path(cache)
            )
            stop.defer()
        except KeyboardInterrupt:  # nothing started yet
            log.info("stopped before the dashboards started")
            return 0
        try:
            for name, command in commands.items():
                if not stop.requested:
                    servers.append(_start_server(name, command, ports[name]))
            _wait_until_listening(servers, stop)
            if not stop.requested:
                _serve(servers, stop)
            log.info("stopping the dashboards")
            return 0
        finally:
            stop_servers(servers)


def _serve(servers: Sequence[Server], stop: _StopRequest) -> None:
    for server in servers:
        log.info(f"{server.name}: {server.url}")
    log.info("serving on 127.0.0.1 only; Ctrl-C stops both")
    while not stop.requested:
        for server in servers:
            if server.process.poll() is not None:
                raise UserError(f"{server.name} stopped (exit code {server.process.returncode}): {server.log_tail()}")
        time.sleep(TICK_S)
