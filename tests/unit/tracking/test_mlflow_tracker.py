"""The MLflow backend without a server: request limits, steps logged once, and the failures a user sees."""

from __future__ import annotations

import sys
import time
from pathlib import PurePosixPath

import pytest

from glass_tune.tracking.mlflow_tracker import IDS_FILE, MAX_ENTITIES, MAX_PARAMS, _Batch, _new_rows, _split, check, mlflow_client
from glass_tune.tracking.tracker import Row, TrackerSettings
from glass_tune.util.errors import UserError
from tests.helpers.processes import free_port


def test_a_batch_is_split_within_log_batchs_limits():
    batch = _Batch(metrics=list(range(2500)), params=list(range(150)), tags=list(range(30)))
    parts = list(_split(batch))
    assert all(len(p.params) <= MAX_PARAMS and len(p.metrics) + len(p.params) + len(p.tags) <= MAX_ENTITIES for p in parts)
    assert [m for p in parts for m in p.metrics] == batch.metrics and [q for p in parts for q in p.params] == batch.params


def test_a_step_is_logged_once_even_when_a_restored_trial_reports_it_again():
    rows = [Row(1, {"a": 1.0}), Row(2, {"a": 2.0}), Row(2, {"a": 2.5}), Row(3, {"a": 3.0})]
    assert [(r.step, r.values["a"]) for r in _new_rows(rows, {1})] == [(2, 2.0), (3, 3.0)]


def test_a_tracking_uri_that_does_not_answer_is_one_line_in_seconds():
    pytest.importorskip("mlflow")
    uri = f"http://127.0.0.1:{free_port()}"
    began = time.monotonic()
    with pytest.raises(UserError, match=f"--mlflow {uri}: no MLflow tracking server answers there") as info:
        check(TrackerSettings(uri=uri, experiment="x"))
    assert time.monotonic() - began < 15 and "\n" not in str(info.value)


def test_without_the_mlflow_extra_a_tracker_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # as if not installed
    with pytest.raises(UserError, match=r"mlflow is not installed \(pip install 'glass-tune\[mlflow\]'\)"):
        mlflow_client("http://127.0.0.1:1")


def test_the_run_id_record_is_out_of_reach_of_rays_restore():
    """Ray's restore copies a category folder's top-level *.json and *.pkl to its staging folder and
    uploads them back at each snapshot: a record there would be overwritten by a stale copy."""
    assert len(PurePosixPath(IDS_FILE).parts) == 2
