"""The Model Registry: a category's exported model as a new ONNX model version, and a version back as a file.

The version is the model ``export`` and ``predict`` use (the category's exported trial: the
confirmation's choice, else the best trial), converted by ``glass_tune.export.onnx_model`` and logged
in that trial's run with a signature, an input example, and the thresholds, input size and
provenance in its metadata. It is tagged with the confirmation's verdict and interval and gets the
alias ``candidate``; promoting it to ``champion`` is a person's decision (README).
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy

from glass_tune.experiment.confirmation import CONFIRM_DIR
from glass_tune.experiment.intervals import Interval
from glass_tune.experiment.view import ExperimentView, open_experiment
from glass_tune.inference.onnx_scorer import OUTPUT_NAMES, THRESHOLDS_METADATA, require_optional
from glass_tune.tracking.backends import check_tracker
from glass_tune.tracking.experiment import track_category
from glass_tune.tracking.mlflow_tracker import MlflowTracker, mlflow_client
from glass_tune.tracking.records import trial_key
from glass_tune.tracking.tracker import TrackerSettings
from glass_tune.util.errors import UserError, message_line
from glass_tune.util.logs import quieted

CANDIDATE_ALIAS = "candidate"
MODEL_NAME = "model"  # the logged model's name in its run


@dataclass(frozen=True)
class RegisteredVersion:
    name: str
    version: str
    category: str
    run_id: str

    @property
    def uri(self) -> str:
        return f"models:/{self.name}@{CANDIDATE_ALIAS}"


def register_exported(
    *, experiment: str, name: str, settings: TrackerSettings, categories: Sequence[str] | None = None
) -> list[RegisteredVersion]:
    """Register the exported model of each of ``categories`` (default: the one the argument names, or
    all) as a new version of ``name`` (``name-<category>`` when the experiment has several)."""
    require_optional("onnx")
    view = open_experiment(experiment)
    check_tracker(settings)
    several = len(view.categories()) > 1
    names = categories if categories is not None else [view.named] if view.named else [d.name for d in view.categories()]
    return [_register(view, category, name=f"{name}-{category}" if several else name, settings=settings) for category in names]


def _register(view: ExperimentView, category: str, *, name: str, settings: TrackerSettings) -> RegisteredVersion:
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types.schema import Schema, TensorSpec

    from glass_tune.export.onnx_model import INPUT_NAME, export_onnx

    onnx = require_optional("onnx")
    category_view = view.category(category)
    track_category(view, category_view.location, settings=settings)  # the trial's run exists, up to date
    exported = category_view.exported_trial()
    run_id = MlflowTracker(settings, record_dir=category_view.location).run_id(
        trial_key(exported.trial.trial_id, confirm=exported.folder.name == CONFIRM_DIR)
    )
    with tempfile.TemporaryDirectory(prefix="glass-tune-register-") as tmp:
        proto = onnx.load(str(export_onnx(category_view.location.uri, out=Path(tmp) / "model.onnx")))
    props = {p.key: p.value for p in proto.metadata_props}
    height, width = json.loads(props["input_size"])
    image = TensorSpec(numpy.dtype(numpy.float32), (-1, 3, height, width), INPUT_NAME)
    outputs = [TensorSpec(numpy.dtype(numpy.float32), shape, n) for n, shape in zip(OUTPUT_NAMES, [(-1,), (-1, height, width)])]
    client = mlflow_client(settings.uri)  # also sets the client's short timeouts
    with _fluent_uris(settings.uri), quieted("mlflow", level=logging.ERROR), contextlib.redirect_stderr(io.StringIO()):
        info = mlflow.onnx.log_model(
            proto,
            name=MODEL_NAME,
            run_id=run_id,
            registered_model_name=name,
            signature=ModelSignature(inputs=Schema([image]), outputs=Schema(outputs)),
            input_example=numpy.full((1, 3, height, width), 0.5, dtype=numpy.float32),
            metadata=_metadata(
                props, view=view, category=category, trial=exported.trial.trial_id, confirmation=exported.confirmation
            ),
            save_as_external_data=False,  # one file, as export --format onnx writes it
            onnx_execution_providers=["CPUExecutionProvider"],  # what predict --onnx runs
        )
    version = str(info.registered_model_version)
    for key, value in _version_tags(
        view, category=category, trial=exported.trial.trial_id, confirmation=exported.confirmation
    ).items():
        client.set_model_version_tag(name, version, key, value)
    client.set_registered_model_alias(name, CANDIDATE_ALIAS, version)
    return RegisteredVersion(name=name, version=version, category=category, run_id=str(run_id))


def _metadata(
    props: Mapping[str, str], *, view: ExperimentView, category: str, trial: str, confirmation: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The thresholds (as the ONNX file carries them), the input size and where the model came from."""
    return {
        "thresholds": json.loads(props[THRESHOLDS_METADATA]) if THRESHOLDS_METADATA in props else None,
        "input_size": json.loads(props["input_size"]),
        "input_range": props.get("input_range"),
        "provenance": {
            "experiment": view.location.uri,
            "category": category,
            "trial": trial,
            "stage": "confirmation" if confirmation is not None else "search",
            "selected_epoch": props.get("selected_epoch"),
            "checkpoint": props.get("source_checkpoint"),
            "glass_tune_version": props.get("glass_tune_version"),
            "verdict": None if confirmation is None else confirmation.get("line"),
        },
    }


def _version_tags(view: ExperimentView, *, category: str, trial: str, confirmation: Mapping[str, Any] | None) -> dict[str, str]:
    """What a reviewer reads on the version: the verdict and the exported finalist's interval."""
    tags = {"category": category, "trial": trial, "experiment": view.location.uri}
    if confirmation is None:
        tags["verdict"] = "no confirmation stage: the best search trial (one seed)"
        return tags
    tags["verdict"] = str(confirmation.get("line"))
    row = next((r for r in confirmation.get("finalists", []) if r.get("name") == confirmation.get("exported")), None)
    if row is not None:
        paired = (row.get("vs_default") or {}).get("validation")
        interval = Interval(**paired) if paired else Interval(**row["validation_interval"])
        tags["interval"] = (
            f"{interval.text(signed=True)} vs the paper default" if paired else f"{interval.text()} validation objective"
        )
    return tags


_URI_VARIABLES = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@contextlib.contextmanager
def _fluent_uris(uri: str) -> Iterator[None]:
    """MLflow's module-level calls (``log_model``, ``download_artifacts``) aimed at ``uri`` for the block.

    ``mlflow.set_tracking_uri`` also writes ``MLFLOW_TRACKING_URI`` into the process environment; left
    there, every later command in the same process (a notebook, the tests) would track to this server.
    """
    import mlflow

    saved = {name: os.environ.get(name) for name in _URI_VARIABLES}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextlib.contextmanager
def registered_onnx(model_uri: str, *, uri: str) -> Iterator[Path]:
    """The ONNX file of a registered version (``models:/NAME@ALIAS`` or ``models:/NAME/VERSION``),
    downloaded into a temporary folder for as long as the block runs."""
    if not model_uri.startswith("models:/"):
        raise UserError(f"--model {model_uri}: expected models:/NAME@ALIAS or models:/NAME/VERSION")
    mlflow_client(uri)
    import mlflow
    from mlflow.models import Model

    with _fluent_uris(uri), tempfile.TemporaryDirectory(prefix="glass-tune-model-") as tmp:
        try:
            local = Path(mlflow.artifacts.download_artifacts(artifact_uri=model_uri, dst_path=tmp, tracking_uri=uri))
            flavor = Model.load(str(local)).flavors.get("onnx")
        except Exception as exc:
            raise UserError(f"--model {model_uri}: {message_line(exc)[:300]}") from None
        if flavor is None:
            raise UserError(f"--model {model_uri}: not an ONNX model (no onnx flavor)")
        yield local / flavor["data"]
