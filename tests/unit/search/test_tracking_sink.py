"""The search's feed to a tracker: never on the driver's path, one warning when the tracker is gone, picklable."""

from __future__ import annotations

import logging
import pickle
import time

import pytest

from glass_tune.experiment.trial_index import TrialRecord
from glass_tune.search.options import TuneOptions
from glass_tune.search.tracking_sink import TrackingSink, tracker_settings
from glass_tune.search.trial_events import EventKind, TrialEvent
from glass_tune.tracking import tracker as tracker_module
from glass_tune.tracking.tracker import TrackerSettings
from tests.helpers.processes import free_port
from tests.helpers.tracked import report, trial_config, write_search_record


def test_a_tracker_that_does_not_answer_is_one_warning_and_never_holds_the_driver(tmp_path, caplog, monkeypatch):
    pytest.importorskip("mlflow")
    monkeypatch.setattr(tracker_module, "_failed", set())
    write_search_record(tmp_path / "hand")
    (tmp_path / "hand" / "weave").mkdir()
    settings = TrackerSettings(uri=f"http://127.0.0.1:{free_port()}", experiment="gone")
    sink = TrackingSink(folder_uri=str(tmp_path / "hand" / "weave"), settings=settings)
    slowest = 0.0
    for epoch in range(1, 6):
        record = TrialRecord("t", "RUNNING", trial_config(5), report(epoch, 0.5), folder="trial_t")
        began = time.perf_counter()
        sink.flush([TrialEvent(EventKind.RESULT, "t", report(epoch, 0.5))], [record], final=False)
        slowest = max(slowest, time.perf_counter() - began)
    with caplog.at_level(logging.WARNING):
        sink.flush([], [record], final=True)  # the end waits (boundedly) for the tracker's thread
    assert slowest < 0.5  # the driver only hands the states over
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert f"MLflow at {settings.uri}" in warnings[0] and f"glass-tune track {tmp_path / 'hand'}" in warnings[0]


def test_the_sink_pickles_with_rays_state_and_starts_afresh(tmp_path):
    sink = TrackingSink(folder_uri=str(tmp_path), settings=TrackerSettings(uri="http://127.0.0.1:1/", experiment="e"))
    sink._statuses["t"] = "RUNNING"
    copy = pickle.loads(pickle.dumps(sink))
    assert copy.settings.uri == "http://127.0.0.1:1" and copy._statuses == {} and copy._tracker is None


def test_a_search_is_tracked_only_when_given_a_tracking_uri():
    assert tracker_settings(TuneOptions(name="n")) is None
    settings = tracker_settings(TuneOptions(name="n", mlflow="http://h:5000"))
    assert settings == TrackerSettings(uri="http://h:5000", experiment="n")
    assert tracker_settings(TuneOptions(name="n", mlflow="file:///m", mlflow_experiment="x")).experiment == "x"
