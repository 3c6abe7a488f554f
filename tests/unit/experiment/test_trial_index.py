"""The trial index and the plain reading of older experiments: JSON in, records out, nothing unpickled."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import numpy as np
import pytest

from glass_tune.experiment.legacy_trials import read_legacy_trials
from glass_tune.experiment.results import checkpoint_file, is_category_dir, load_trials
from glass_tune.experiment.storage import resolve
from glass_tune.experiment.trial_index import (
    TRIALS_FILE,
    TrialRecord,
    error_line,
    read_history,
    read_trial_index,
    write_trial_index,
)
from glass_tune.util.errors import UserError

LEGACY = Path(__file__).resolve().parents[2] / "fixtures" / "legacy_experiment" / "weave"


class Bomb:
    """Unpickling it writes the marker file: proof that a reader executed the file's code."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "code from a file ran"))


def test_records_round_trip_as_plain_json(tmp_path):
    record = TrialRecord(
        trial_id="a1",
        status="TERMINATED",
        config={"input_shape": (64, 64), "step": np.int64(5), "searched": ["step"]},
        last_result={"best_score": np.float32(0.5), "r_t": math.nan, "config": {"dropped": True}, "epoch": 3},
        checkpoint="trial_a1/checkpoint_000002",
        folder="trial_a1",
    )
    category = resolve(str(tmp_path))
    write_trial_index(category, [record])
    (back,) = read_trial_index(category)
    assert back.config == {"input_shape": [64, 64], "step": 5, "searched": ["step"]}
    assert back.last_result["best_score"] == 0.5 and math.isnan(back.last_result["r_t"]) and "config" not in back.last_result
    assert (back.trial_id, back.status, back.folder, back.params) == ("a1", "TERMINATED", "trial_a1", {"step": 5})
    assert str(checkpoint_file(trial=back, category_dir=category)) == f"{tmp_path}/trial_a1/checkpoint_000002/checkpoint.pt"
    assert is_category_dir(location=category)


def test_a_broken_index_is_one_line(tmp_path):
    category = resolve(str(tmp_path))
    for text, expected in (
        ("{not json", "not a JSON trial index"),
        ('{"format": "other", "trials": []}', "not a glass-tune trial index"),
        ('{"format": "glass-tune-trials/1", "trials": [{"status": "RUNNING"}]}', "a trial entry is malformed"),
    ):
        (tmp_path / TRIALS_FILE).parent.mkdir(exist_ok=True)
        (tmp_path / TRIALS_FILE).write_text(text)
        with pytest.raises(UserError, match=expected) as caught:
            read_trial_index(category)
        assert str(tmp_path / TRIALS_FILE) in str(caught.value) and "\n" not in str(caught.value)


def test_history_reads_ray_json_lines_and_stops_at_a_cut_line(tmp_path):
    (tmp_path / "trial_a").mkdir()
    rows = [{"epoch": 1, "score": 0.5, "config": {"x": 1}}, {"epoch": 2, "score": 0.6}]
    (tmp_path / "trial_a" / "result.json").write_text("\n".join(json.dumps(r) for r in rows) + '\n{"epoch": 3, "sc')
    assert read_history(resolve(str(tmp_path)), "trial_a") == [{"epoch": 1, "score": 0.5}, {"epoch": 2, "score": 0.6}]
    assert read_history(resolve(str(tmp_path)), "trial_missing") == []


def test_error_line_is_the_causes_own_message():
    text = (
        "Failure # 1 (occurred at 2026-12-07_22-11-29)\n"
        'ray::ImplicitFunc.train() (pid=1, ip=10.0.0.1)\n  File "x.py", line 3, in f\n'
        "glass_tune.util.errors.ConfigError: input_shape [32, 32] is too small\n"
    )
    assert error_line(text) == "ConfigError: input_shape [32, 32] is too small"
    assert error_line("The actor died unexpectedly before finishing this task.") == (
        "The actor died unexpectedly before finishing this task."
    )
    assert error_line("") == error_line(None) == "unknown error (see the trial's error.txt)"


def _ray_state(trials: list[tuple[dict, dict]]) -> str:
    """An experiment_state file as Ray writes it: trial_data of [trial JSON, metadata JSON] pairs."""
    return json.dumps({"trial_data": [[json.dumps(t), json.dumps(m)] for t, m in trials], "runner_data": {}})


def test_an_older_search_is_read_from_rays_state_without_unpickling(tmp_path):
    """Pickled values (config, checkpoint manager, storage) stay inert; the folder fills in what they held."""
    marker = tmp_path / "marker"
    bomb = {"_type": "CLOUDPICKLE_FALLBACK", "value": pickle.dumps(Bomb(marker)).hex()}
    done = {"trial_id": "a", "status": "TERMINATED", "relative_logdir": "trial_a", "config": bomb, "storage": bomb}
    failed = {"trial_id": "b", "status": "ERROR", "relative_logdir": "trial_b", "config": {"step": 3}}
    meta_done = {"last_result": {"best_score": 0.7, "epoch": 2}, "error_filename": None, "checkpoint_manager": bomb}
    meta_failed = {"last_result": bomb, "error_filename": "error.txt"}
    category = tmp_path / "weave"
    (category / "trial_a" / "checkpoint_000000").mkdir(parents=True)
    (category / "trial_a" / "checkpoint_000001").mkdir()
    for kept in ("checkpoint_000000", "checkpoint_000001"):
        (category / "trial_a" / kept / "checkpoint.pt").write_bytes(b"")
    (category / "trial_a" / "params.json").write_text(json.dumps({"step": 5}))
    (category / "trial_b").mkdir()
    (category / "trial_b" / "error.txt").write_text("Failure # 1\nValueError: no images\n")
    (category / "trial_b" / "error.pkl").write_bytes(pickle.dumps(Bomb(marker)))
    (category / "experiment_state-2026-01-01_00-00-00.json").write_text("{}")  # an older snapshot: not read
    (category / "experiment_state-2026-01-02_00-00-00.json").write_text(_ray_state([(done, meta_done), (failed, meta_failed)]))

    a, b = load_trials(category_dir=resolve(str(category)))
    assert (a.trial_id, a.status, a.config, a.last_result, a.checkpoint) == (
        "a",
        "TERMINATED",
        {"step": 5},
        {"best_score": 0.7, "epoch": 2},
        "trial_a/checkpoint_000001",
    )
    assert (b.status, b.config, b.last_result, b.error, b.checkpoint) == ("ERROR", {"step": 3}, {}, "ValueError: no images", None)
    assert not marker.exists()


def test_what_an_older_search_lacks_is_named_in_one_line(tmp_path):
    bomb = {"_type": "CLOUDPICKLE_FALLBACK", "value": "00"}
    (tmp_path / "experiment_state-x.json").write_text(
        _ray_state([({"trial_id": "a", "status": "RUNNING", "relative_logdir": "trial_a", "config": bomb}, {})])
    )
    with pytest.raises(UserError, match=r"trial trial_a's config is stored pickled only and .*params.json is missing"):
        read_legacy_trials(resolve(str(tmp_path)))
    (tmp_path / "experiment_state-x.json").write_text('{"runner_data": {}}')
    with pytest.raises(UserError, match="not a Ray Tune experiment state"):
        read_legacy_trials(resolve(str(tmp_path)))


def test_the_legacy_fixture_reads_plainly():
    (trial,) = [t for t in read_legacy_trials(resolve(str(LEGACY))) if t.checkpoint is not None]
    assert trial.config["backbone"] == "test_resnet" and trial.checkpoint.endswith("checkpoint_000000")
