"""A moved experiment's search generator state names where the experiment now is (no Ray cluster:
Ray's own SearchGenerator saves and restores the state, as a driver's Tune run does)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pyarrow.fs import LocalFileSystem, SubTreeFileSystem
from ray.tune.experiment import Experiment
from ray.tune.search import ConcurrencyLimiter, Searcher, SearchGenerator

from glass_tune.experiment.storage import resolve
from glass_tune.search.ray_internals import storage_filesystem
from glass_tune.search.relocation import newest_search_state, refresh_syncer, relocate_search_state


class Counting(Searcher):
    """Suggests x = 1, 2, ...; its position survives a save and restore."""

    def __init__(self) -> None:
        super().__init__(metric="m", mode="max")
        self.given = 0

    def suggest(self, trial_id: str) -> dict:
        self.given += 1
        return {"x": self.given}

    def on_trial_complete(self, trial_id: str, result: dict | None = None, error: bool = False) -> None:
        pass

    def save(self, checkpoint_path: str) -> None:
        Path(checkpoint_path).write_text(str(self.given))

    def restore(self, checkpoint_path: str) -> None:
        self.given = int(Path(checkpoint_path).read_text())


def _trainable(config: dict) -> None:
    pass


def _saved_run(storage: Path, name: str, *, sessions: tuple[str, ...] = ("2026-01-01_00-00-00",)) -> Path:
    """A Ray run's folder ``storage/name`` holding its search generator's state after one trial."""
    generator = SearchGenerator(ConcurrencyLimiter(Counting(), max_concurrent=4))
    generator.add_configurations([Experiment(name, run=_trainable, storage_path=str(storage), config={"a": 1}, num_samples=3)])
    assert generator.next_trial() is not None
    for session in sessions:
        generator.save_to_dir(str(storage / name), session_str=session)
    return storage / name


def _restored_trial(run_dir: Path):
    """The next trial Ray's generator creates after restoring from ``run_dir``."""
    generator = SearchGenerator(ConcurrencyLimiter(Counting(), max_concurrent=4))
    generator.restore_from_dir(str(run_dir))
    return generator.next_trial()


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("name", ["weave", "confirm"])  # a category's search and its confirmation run
def test_moved_run_creates_its_next_trials_where_it_now_is(tmp_path, name):
    old = _saved_run(tmp_path / "old" / "exp", name)
    new = tmp_path / "elsewhere" / "exp" / name
    shutil.copytree(old, new)
    before = _files(tmp_path / "old")
    assert _restored_trial(new).storage.experiment_fs_path == str(old)  # what Ray alone restores: the bug

    assert relocate_search_state(resolve(str(new))) == str(old)
    trial = _restored_trial(new)
    assert trial.config == {"a": 1, "x": 2}  # the restored position, not a new search
    assert trial.storage.experiment_fs_path == str(new)
    assert trial.storage.syncer.storage_filesystem.equals(trial.storage.storage_filesystem)
    assert _files(tmp_path / "old") == before  # the old location is read by nothing, written by nothing

    rewritten = _files(new)
    assert relocate_search_state(resolve(str(new))) is None  # already there: left alone
    assert _files(new) == rewritten


def test_the_old_location_may_be_gone(tmp_path):
    old = _saved_run(tmp_path / "old", "weave")
    new = tmp_path / "new" / "weave"
    shutil.move(old, new)
    shutil.rmtree(tmp_path / "old")

    assert relocate_search_state(resolve(str(new))) == str(old)
    assert _restored_trial(new).storage.experiment_fs_path == str(new)
    assert not (tmp_path / "old").exists()  # nothing recreated it


def test_a_run_that_never_moved_is_not_rewritten(tmp_path):
    run = _saved_run(tmp_path, "weave")
    saved = _files(run)
    assert relocate_search_state(resolve(str(run))) is None
    assert _files(run) == saved
    assert relocate_search_state(resolve(str(tmp_path / "nothing"))) is None  # no state: nothing to do


def test_only_the_newest_state_ray_reads_is_rewritten(tmp_path):
    old = _saved_run(tmp_path / "old", "weave", sessions=("2026-01-01_00-00-00", "2026-01-02_00-00-00"))
    new = tmp_path / "new" / "weave"
    shutil.copytree(old, new)
    older = (new / "search_gen_state-2026-01-01_00-00-00.json").read_bytes()

    newest = newest_search_state(resolve(str(new)))
    assert newest is not None and newest.name == "search_gen_state-2026-01-02_00-00-00.json"
    assert relocate_search_state(resolve(str(new))) == str(old)
    assert (new / "search_gen_state-2026-01-01_00-00-00.json").read_bytes() == older
    assert _restored_trial(new).storage.experiment_fs_path == str(new)


def _other_kind_of_storage(tmp_path: Path) -> SubTreeFileSystem:
    """A filesystem of another kind than the local one (as object storage is), but picklable and on disk."""
    (tmp_path / "bucket").mkdir()
    return SubTreeFileSystem(str(tmp_path / "bucket"), LocalFileSystem())


def test_a_run_moved_from_another_kind_of_storage_to_a_folder_stores_and_syncs_there(tmp_path):
    generator = SearchGenerator(ConcurrencyLimiter(Counting(), max_concurrent=4))
    fs = _other_kind_of_storage(tmp_path)
    generator.add_configurations([Experiment("weave", run=_trainable, storage_path="exp", storage_filesystem=fs, num_samples=3)])
    assert generator.next_trial() is not None
    new = tmp_path / "folder" / "exp" / "weave"
    new.mkdir(parents=True)
    generator.save_to_dir(str(new), session_str="2026-01-01_00-00-00")

    assert relocate_search_state(resolve(str(new))) == "exp/weave"
    storage = _restored_trial(new).storage
    assert storage.experiment_fs_path == str(new)
    assert storage.storage_filesystem.type_name == storage.syncer.storage_filesystem.type_name == "local"


def test_a_restored_trial_of_a_moved_run_gets_a_syncer_on_its_new_filesystem(tmp_path):
    generator = SearchGenerator(ConcurrencyLimiter(Counting(), max_concurrent=4))
    fs = _other_kind_of_storage(tmp_path)
    generator.add_configurations([Experiment("weave", run=_trainable, storage_path="exp", storage_filesystem=fs, num_samples=3)])
    trial = generator.next_trial()
    # what Ray's TuneController._restore_trials does to a trial of an experiment restored elsewhere
    trial.storage.storage_filesystem, trial.storage.storage_fs_path = storage_filesystem(str(tmp_path / "folder"))
    assert trial.storage.syncer.storage_filesystem.type_name == "subtree"  # would upload artifacts to the old storage

    assert refresh_syncer(trial)
    assert trial.storage.syncer.storage_filesystem.equals(trial.storage.storage_filesystem)
    assert not refresh_syncer(trial)  # a trial that did not move keeps its syncer
