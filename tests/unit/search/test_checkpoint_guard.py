"""A resumed driver must not trip over checkpoints that Ray deleted just before the crash.

Exercised against Ray's own checkpoint manager: the state a crash leaves is rebuilt by hand (a
snapshot naming checkpoint folders that are gone), then Ray registers the next checkpoint.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from types import SimpleNamespace

from pyarrow.fs import LocalFileSystem
from ray.train import Checkpoint, CheckpointConfig
from ray.train._internal.checkpoint_manager import _CheckpointManager
from ray.train._internal.session import _TrainingResult

from glass_tune.search.checkpoint_guard import VanishedCheckpointGuard, forget_vanished_checkpoints


def _result(trial_dir: Path, index: int, score: float) -> _TrainingResult:
    folder = trial_dir / f"checkpoint_{index:06d}"
    folder.mkdir(parents=True)
    (folder / "state.pt").write_bytes(b"x")
    return _TrainingResult(checkpoint=Checkpoint.from_directory(str(folder)), metrics={"score": score})


def _crashed_trial(trial_dir: Path, *, vanished: list[int]) -> SimpleNamespace:
    """A trial restored from a snapshot that recorded checkpoints 0 and 1, some deleted since."""
    manager = _CheckpointManager(CheckpointConfig(num_to_keep=2, checkpoint_score_attribute="score"))
    for index in (0, 1):
        manager.register_checkpoint(_result(trial_dir, index, score=0.5 + index / 10))
    for index in vanished:
        shutil.rmtree(trial_dir / f"checkpoint_{index:06d}")
    local = LocalFileSystem()  # a trial of an experiment that did not move: its syncer is left alone
    storage = SimpleNamespace(storage_filesystem=local, syncer=SimpleNamespace(storage_filesystem=local))
    return SimpleNamespace(trial_id="t0", run_metadata=SimpleNamespace(checkpoint_manager=manager), storage=storage)


def test_next_registration_after_crash_deletes_cleanly(tmp_path, caplog):
    trial = _crashed_trial(tmp_path, vanished=[0])
    guard = VanishedCheckpointGuard()
    newest = _result(tmp_path, 2, score=0.9)
    with caplog.at_level(logging.ERROR):
        guard.on_checkpoint(iteration=1, trials=[trial], trial=trial, checkpoint=newest.checkpoint)
        trial.run_metadata.checkpoint_manager.register_checkpoint(newest)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    kept = [Path(r.checkpoint.path).name for r in trial.run_metadata.checkpoint_manager.best_checkpoint_results]
    assert kept == ["checkpoint_000001", "checkpoint_000002"]
    assert sorted(p.name for p in tmp_path.iterdir()) == kept


def test_vanished_latest_falls_back_to_the_newest_present(tmp_path):
    trial = _crashed_trial(tmp_path, vanished=[1])
    assert forget_vanished_checkpoints(trial) == [str(tmp_path / "checkpoint_000001")]
    latest = trial.run_metadata.checkpoint_manager.latest_checkpoint_result
    assert Path(latest.checkpoint.path).name == "checkpoint_000000"


def test_all_vanished_means_a_fresh_start_not_a_failed_restore(tmp_path):
    trial = _crashed_trial(tmp_path, vanished=[0, 1])
    guard = VanishedCheckpointGuard()
    guard.on_step_begin(iteration=0, trials=[trial])
    manager = trial.run_metadata.checkpoint_manager
    assert manager.latest_checkpoint_result is None and manager.best_checkpoint_results == []


def test_intact_state_is_left_alone_and_the_restore_check_runs_again_after_unpickling(tmp_path):
    import cloudpickle

    trial = _crashed_trial(tmp_path, vanished=[])
    manager = trial.run_metadata.checkpoint_manager
    before = (list(manager.best_checkpoint_results), manager.latest_checkpoint_result)
    guard = VanishedCheckpointGuard()
    guard.on_step_begin(iteration=0, trials=[trial])
    assert (list(manager.best_checkpoint_results), manager.latest_checkpoint_result) == before
    assert guard._checked_restored
    assert not cloudpickle.loads(cloudpickle.dumps(guard))._checked_restored
