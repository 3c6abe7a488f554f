"""The MLflow backend: run states into MLflow runs with ``MlflowClient``, one ``log_batch`` per run and sync.

Run ids are recorded in the folder that owns the runs (``<category>/tracking/mlflow.json`` of a
search, ``<out>/tracking/mlflow.json`` of a training run), per tracking URI and MLflow experiment, written atomically
after each run is created: a resumed search or a second ``glass-tune track`` continues the same runs.
What a run already holds is read once per process (params, tags, status, the steps of its ``epoch``
metric), so a state sent again logs nothing twice.

Calls are short: unless the environment says otherwise, a request times out after 10 s and is
retried once (MLflow's defaults, 120 s and 7 retries, would hold a search's end for minutes).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from glass_tune.tracking.tracker import STEP_KEY, Row, RunState, TrackerSettings, failure_reason
from glass_tune.util.errors import UserError
from glass_tune.util.logs import get_logger

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities import Metric, Param, RunTag

    from glass_tune.experiment.storage import Location

log = get_logger(__name__)

# In a folder of its own: when Ray restores a search it copies the category folder's top-level *.json
# and *.pkl into its staging folder and uploads them back at every snapshot, which would put back a
# stale copy of a record written meanwhile (and the next process would open duplicate runs).
IDS_FILE = "tracking/mlflow.json"
FORMAT = "glass-tune-mlflow/1"
CLIENT_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "1",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",  # set_terminated prints a "View run" line otherwise
    "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",  # predict --model's download: a command's output, not a bar
}
# log_batch's limits per request (MLflow REST API)
MAX_METRICS, MAX_PARAMS, MAX_TAGS, MAX_ENTITIES = 1000, 100, 100, 1000
PARENT_TAG = "mlflow.parentRunId"
# MLflow 3's UI opens an experiment of this kind on its training runs (else on GenAI tracing)
EXPERIMENT_KIND_TAG, MODEL_TRAINING = "mlflow.experimentKind", "custom_model_development"


def mlflow_client(uri: str) -> MlflowClient:
    """A client with short timeouts, or one line when the ``mlflow`` extra is not installed."""
    for key, value in CLIENT_DEFAULTS.items():
        os.environ.setdefault(key, value)
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)  # a retry is no news; its failure is
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise UserError("mlflow is not installed (pip install 'glass-tune[mlflow]')") from None
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_id(client: MlflowClient, name: str) -> str:
    """The MLflow experiment ``name`` (created when absent)."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name, tags={EXPERIMENT_KIND_TAG: MODEL_TRAINING})
        except MlflowException:  # created meanwhile by another category's thread
            found = client.get_experiment_by_name(name)
            if found is None:
                raise
    if found.lifecycle_stage == "deleted":
        raise UserError(f"MLflow experiment '{name}' is deleted: restore it, or pass --mlflow-experiment NAME")
    return found.experiment_id


def check(settings: TrackerSettings) -> None:
    """One line, in seconds, when the tracking URI does not answer (or cannot hold the experiment)."""
    try:
        experiment_id(mlflow_client(settings.uri), settings.experiment)
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"--mlflow {settings.uri}: no MLflow tracking server answers there ({failure_reason(exc)})") from None


@dataclass
class _Run:
    """What this process knows one MLflow run holds."""

    run_id: str
    params: dict[str, str]
    tags: dict[str, str]
    metrics: set[str]
    status: str
    steps: set[int] | None = None  # the steps of its epoch metric; None until read
    fresh: bool = False  # created by this process: nothing to read


@dataclass
class _Batch:
    metrics: list[Metric] = field(default_factory=list)
    params: list[Param] = field(default_factory=list)
    tags: list[RunTag] = field(default_factory=list)


_file_locks: dict[str, threading.Lock] = {}
_file_locks_guard = threading.Lock()


def _file_lock(uri: str) -> threading.Lock:
    """One lock per run-id record in this process (a search's sink thread and its driver share one)."""
    with _file_locks_guard:
        return _file_locks.setdefault(uri, threading.Lock())


class MlflowTracker:
    """Makes MLflow's runs match glass-tune's run states (see the module's notes)."""

    def __init__(self, settings: TrackerSettings, *, record_dir: Location) -> None:
        self.settings = settings
        self.label = settings.label
        self.record = record_dir / IDS_FILE
        self._client: MlflowClient | None = None
        self._experiment_id: str | None = None
        self._runs: dict[str, _Run] = {}

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = mlflow_client(self.settings.uri)
        return self._client

    def sync(self, runs: Sequence[RunState]) -> None:
        for state in runs:
            self._sync(state)

    def run_id(self, key: str) -> str | None:
        """The MLflow run id recorded for ``key`` (None when it was never tracked here)."""
        return self._runs[key].run_id if key in self._runs else self._recorded().get("runs", {}).get(key)

    # --- the record of run ids ---------------------------------------------------------------------

    @property
    def _section(self) -> str:
        return f"{self.settings.experiment} @ {self.settings.uri}"

    def _read(self) -> dict[str, Any]:
        if not self.record.is_file():
            return {"format": FORMAT, "trackers": {}}
        try:
            document = json.loads(self.record.read_text())
        except ValueError:
            raise UserError(f"{self.record}: not a JSON record of MLflow run ids") from None
        if not isinstance(document, dict) or document.get("format") != FORMAT:
            raise UserError(f"{self.record}: not a glass-tune record of MLflow run ids (expected format {FORMAT})")
        return document

    def _recorded(self) -> dict[str, Any]:
        return self._read()["trackers"].get(self._section, {})

    def _remember(self, key: str, run_id: str) -> None:
        with _file_lock(self.record.uri):
            document = self._read()
            section = document["trackers"].setdefault(
                self._section, {"uri": self.settings.uri, "experiment": self.settings.experiment, "runs": {}}
            )
            section["experiment_id"] = self._experiment()
            section["runs"][key] = run_id
            self.record.write_text(json.dumps(document, indent=1, sort_keys=True))

    def _experiment(self) -> str:
        if self._experiment_id is None:
            self._experiment_id = experiment_id(self.client, self.settings.experiment)
        return self._experiment_id

    # --- one run ------------------------------------------------------------------------------------

    def _open(self, state: RunState) -> _Run:
        """The run of ``state``: known, recorded (read once), or created now (and recorded)."""
        if state.key in self._runs:
            return self._runs[state.key]
        from mlflow.exceptions import MlflowException

        run_id = self._recorded().get("runs", {}).get(state.key)
        found = None
        if run_id is not None:
            try:
                found = self.client.get_run(run_id)
            except MlflowException:  # deleted from the server since: a new run replaces it
                found = None
        if found is not None and found.info.lifecycle_stage != "deleted":
            run = _Run(
                run_id=found.info.run_id,
                params=dict(found.data.params),
                tags=dict(found.data.tags),
                metrics=set(found.data.metrics),
                status=found.info.status,
            )
        else:
            run = self._create(state)
        self._runs[state.key] = run
        return run

    def _create(self, state: RunState) -> _Run:
        tags = {}
        if state.parent is not None:
            parent = self._runs.get(state.parent)
            if parent is None:
                raise ValueError(f"run {state.key}: its parent {state.parent} was not synced first")
            tags[PARENT_TAG] = parent.run_id
        started = int((state.started_at or time.time()) * 1000)
        created = self.client.create_run(self._experiment(), start_time=started, tags=tags, run_name=state.name)
        self._remember(state.key, created.info.run_id)
        log.debug(f"MLflow run {created.info.run_id} created for {state.key} (recorded in {self.record})")
        return _Run(created.info.run_id, {}, dict(tags), set(), created.info.status, steps=set(), fresh=True)

    def _logged_steps(self, run: _Run) -> set[int]:
        if run.steps is None:
            run.steps = {int(m.step) for m in self.client.get_metric_history(run.run_id, STEP_KEY)}
        return run.steps

    def _sync(self, state: RunState) -> None:
        from mlflow.entities import Metric, Param, RunTag

        run = self._open(state)
        batch = _Batch()
        rows = _new_rows(state.rows, self._logged_steps(run) if state.rows else set())
        for row in rows:
            stamp = int((row.timestamp if row.timestamp is not None else time.time()) * 1000)
            ordered = sorted(row.values.items(), key=lambda kv: kv[0] == STEP_KEY)  # the step's marker last
            batch.metrics += [Metric(k, v, stamp, row.step) for k, v in ordered]
        now = int(time.time() * 1000)
        batch.metrics += [Metric(k, v, now, state.final_step) for k, v in state.final.items() if k not in run.metrics]
        # a param is never changed (MLflow refuses it): one a resumed run already holds stays
        batch.params = [Param(k, v) for k, v in state.params.items() if k not in run.params]
        batch.tags = [RunTag(k, v) for k, v in state.tags.items() if run.tags.get(k) != v]
        for part in _split(batch):
            self.client.log_batch(run.run_id, metrics=part.metrics, params=part.params, tags=part.tags)
        run.steps = (run.steps or set()) | {row.step for row in rows}
        run.metrics |= {m.key for m in batch.metrics}
        run.params.update({p.key: p.value for p in batch.params})
        run.tags.update({t.key: t.value for t in batch.tags})
        if state.status != run.status:
            if state.status.ended:
                ended = int(state.ended_at * 1000) if state.ended_at is not None else now
                self.client.set_terminated(run.run_id, status=str(state.status), end_time=ended)
            else:
                self.client.update_run(run.run_id, status=str(state.status))
            run.status = str(state.status)


def _new_rows(rows: Sequence[Row], logged: set[int]) -> list[Row]:
    """The rows of steps not logged yet, the first of each step (a restored trial reports some again)."""
    out, seen = [], set(logged)
    for row in rows:
        if row.step not in seen:
            seen.add(row.step)
            out.append(row)
    return out


def _split(batch: _Batch) -> Iterator[_Batch]:
    """``batch`` in requests within log_batch's limits."""
    metrics, params, tags = batch.metrics, batch.params, batch.tags
    while metrics or params or tags:
        part = _Batch(params=params[:MAX_PARAMS], tags=tags[:MAX_TAGS])
        room = min(MAX_METRICS, MAX_ENTITIES - len(part.params) - len(part.tags))
        part.metrics = metrics[:room]
        metrics, params, tags = metrics[room:], params[MAX_PARAMS:], tags[MAX_TAGS:]
        yield part
