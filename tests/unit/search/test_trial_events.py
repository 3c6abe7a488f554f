"""The driver's trial event stream: plain records from Ray's live trials, batched to sinks that never stop a search."""

from __future__ import annotations

import logging
import pickle
from pathlib import Path
from types import SimpleNamespace

import cloudpickle
from ray.train import Checkpoint, CheckpointConfig
from ray.train._internal.checkpoint_manager import _CheckpointManager
from ray.train._internal.session import _TrainingResult

from glass_tune.experiment.results import load_trials
from glass_tune.experiment.storage import resolve
from glass_tune.search.trial_events import EventKind, TrialEvents, TrialIndexSink


def _trial(category: Path, trial_id: str, *, scores: list[float], status: str = "RUNNING") -> SimpleNamespace:
    """A live trial as the callback sees it, with Ray's own checkpoint manager (top 2 by best_score)."""
    manager = _CheckpointManager(CheckpointConfig(num_to_keep=2, checkpoint_score_attribute="best_score"))
    for index, score in enumerate(scores):
        folder = category / f"trial_{trial_id}" / f"checkpoint_{index:06d}"
        folder.mkdir(parents=True)
        manager.register_checkpoint(_TrainingResult(Checkpoint.from_directory(str(folder)), {"best_score": score}))
    return SimpleNamespace(
        trial_id=trial_id,
        status=status,
        config={"step": 3, "searched": ["step"], "input_shape": (64, 64)},
        last_result={"best_score": max(scores, default=0.0), "epoch": len(scores), "config": {"step": 3}},
        error_file=None,
        storage=SimpleNamespace(trial_dir_name=f"trial_{trial_id}"),
        run_metadata=SimpleNamespace(checkpoint_manager=manager),
    )


class _Recorder:
    name = "recorder"

    def __init__(self) -> None:
        self.flushes: list[tuple[list, list, bool]] = []

    def flush(self, events, records, *, final):
        self.flushes.append((list(events), list(records), final))


class _Broken:
    name = "broken tracker"

    def __init__(self) -> None:
        self.calls = 0

    def flush(self, events, records, *, final):
        self.calls += 1
        raise ConnectionError("tracker gone")


def test_events_reach_the_sinks_in_batches_and_the_index_names_the_best_checkpoint(tmp_path):
    category = tmp_path / "weave"
    recorder, broken = _Recorder(), _Broken()
    stream = TrialEvents(metric="best_score", mode="max", sinks=[TrialIndexSink(str(category)), broken, recorder], period_s=3600)
    good = _trial(category, "good", scores=[0.4, 0.9, 0.9])
    failed = _trial(category, "bad", scores=[], status="ERROR")
    failed.error_file = str(tmp_path / "error.txt")
    (tmp_path / "error.txt").write_text("Failure # 1\ntrainables.glass.DataError: no images in /data\n")
    trials = [good, failed]

    stream.on_step_end(iteration=0, trials=trials)  # a run's first step records its trials at once
    stream.on_trial_start(iteration=1, trials=trials, trial=good)
    stream.on_trial_result(iteration=1, trials=trials, trial=good, result={"epoch": 1, "config": {"x": 1}})
    stream.on_step_end(iteration=1, trials=trials)  # within the period: buffered
    stream.on_trial_error(iteration=2, trials=trials, trial=failed)
    good.status = "TERMINATED"
    stream.on_trial_complete(iteration=2, trials=trials, trial=good)
    stream.on_experiment_end(trials=trials)

    assert [final for *_, final in recorder.flushes] == [False, True]
    events, records, _ = recorder.flushes[-1]
    assert [(e.kind, e.trial_id) for e in events] == [
        (EventKind.STARTED, "good"),
        (EventKind.RESULT, "good"),
        (EventKind.ERRORED, "bad"),
        (EventKind.COMPLETED, "good"),
    ]
    assert events[1].result == {"epoch": 1}
    assert [(r.trial_id, r.status) for r in records] == [("good", "TERMINATED"), ("bad", "ERROR")]
    assert broken.calls == 1  # failed once, then left out; the others went on
    by_id = {t.trial_id: t for t in load_trials(category_dir=resolve(str(category)))}
    assert (
        by_id["good"].status == "TERMINATED" and by_id["good"].checkpoint == "trial_good/checkpoint_000001"
    )  # a tie: the earlier, as Ray picks
    assert by_id["good"].config["input_shape"] == [64, 64] and "config" not in by_id["good"].last_result
    assert (by_id["bad"].error, by_id["bad"].checkpoint) == ("DataError: no images in /data", None)


def test_a_failing_sink_warns_once(tmp_path, caplog):
    stream = TrialEvents(metric="best_score", mode="max", sinks=[_Broken()], period_s=0)
    trials = [_trial(tmp_path, "a", scores=[0.5])]
    with caplog.at_level(logging.WARNING):
        for step in range(3):
            stream.on_trial_result(iteration=step, trials=trials, trial=trials[0], result={"epoch": step})
            stream.on_step_end(iteration=step, trials=trials)
    assert [r.getMessage() for r in caplog.records] == [
        "warning: broken tracker stopped recording this search (ConnectionError: tracker gone)"
    ]


def test_pickled_with_rays_state_it_keeps_its_settings_not_its_buffers(tmp_path):
    stream = TrialEvents(metric="loss", mode="min", sinks=[TrialIndexSink(str(tmp_path))], period_s=7)
    trial = _trial(tmp_path, "a", scores=[0.5])
    stream.on_trial_result(iteration=1, trials=[trial], trial=trial, result={"epoch": 1})
    again = pickle.loads(cloudpickle.dumps(stream))
    assert (again.metric, again.mode, again.period_s, again.sinks[0].folder_uri) == ("loss", "min", 7, str(tmp_path))
    assert again._events == [] and again._dirty  # a restored run records its trials at its first step
