"""Opening an experiment: the category an argument names, and the exported trial that export, predict
and the ONNX export all use (an experiment written by hand, no Ray)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from glass_tune.experiment.confirmation import (
    DEFAULT,
    Finalist,
    confirmation_record,
    decide,
    finalist_results,
    write_confirmation,
    write_finalists,
)
from glass_tune.experiment.protocol import Objective
from glass_tune.experiment.status import experiment_status
from glass_tune.experiment.storage import resolve
from glass_tune.experiment.trial_index import TrialRecord
from glass_tune.experiment.view import open_category, open_experiment
from glass_tune.export import onnx_model
from glass_tune.export.config_formats import export_experiment
from glass_tune.inference import predict
from glass_tune.inference.model_source import locate_checkpoint
from glass_tune.inference.predict import predict_images
from glass_tune.util.errors import UserError
from tests.helpers import TINY
from tests.helpers.hand_made import HandTrial, write_category

SEEDS = [1, 2]


def _config(step: int, **extra) -> dict:
    return {**TINY, "category": "weave", "seed": 0, "step": step, "searched": ["step"], **extra}


def _result(score: float) -> dict:
    return {"best_score": score, "best_epoch": 2, "epoch": 2}


def _write_experiment(root: Path, *, categories=("weave",)) -> dict[str, Path]:
    """A search whose best trial (``best``, step 3) lost the confirmation: the paper default (step 5)
    is exported, and its better confirmation run is ``default2``. Returns every checkpoint file by
    ``category/trial id``."""
    record = {"options": {"name": "hand", "samples": 2}, "categories": list(categories)}
    record["space"] = {"metric": "best_score", "mode": "max", "params": {"step": {"type": "int", "low": 2, "high": 6}}}
    root.mkdir(parents=True)
    (root / "search.yaml").write_text(yaml.safe_dump(record))
    files: dict[str, Path] = {}
    for name in categories:
        cat = root / name
        search = write_category(cat, [HandTrial("best", _config(3), _result(0.9)), HandTrial("own", _config(5), _result(0.7))])
        runs = [
            HandTrial("default1", _config(5, seed=1, finalist=DEFAULT), _result(0.80)),
            HandTrial("default2", _config(5, seed=2, finalist=DEFAULT), _result(0.85)),
            HandTrial("best1", _config(3, seed=1, finalist="best"), _result(0.95)),
            HandTrial("best2", _config(3, seed=2, finalist="best"), _result(0.60)),
        ]
        confirmed = write_category(cat / "confirm", runs)
        files |= {f"{name}/{tid}": path for tid, path in (search | confirmed).items()}
        finalists = [Finalist(DEFAULT, _config(5), "own", 0.7), Finalist("best", _config(3), "best", 0.9)]
        write_finalists(resolve(str(cat)), finalists=finalists, seeds=SEEDS)
        records = [TrialRecord(t.trial_id, t.status, t.config, t.last_result) for t in runs]
        results = finalist_results(finalists, seeds=SEEDS, trials=records, objective=Objective())
        verdict = decide(results, objective=Objective())
        assert verdict.exported == DEFAULT and verdict.winner == DEFAULT
        write_confirmation(
            resolve(str(cat)), confirmation_record(category=name, results=results, verdict=verdict, objective=Objective())
        )
    return files


class _Stop(Exception):
    """Raised where a checkpoint would be loaded: the file is what counts here."""


def test_export_predict_and_onnx_use_the_confirmations_exported_trial(tmp_path, monkeypatch):
    files = _write_experiment(tmp_path / "exp")
    exported = files["weave/default2"]  # not the best search trial, nor the best confirmation run ("best1")
    provenance = yaml.safe_load(export_experiment(str(tmp_path / "exp"), fmt="yaml", out=None))["provenance"]
    assert (provenance["trial_id"], provenance["checkpoint"]) == ("default2", str(exported))
    assert provenance["confirmation"]["exported"] == DEFAULT

    assert str(locate_checkpoint(tmp_path / "exp")) == str(exported)
    assert str(locate_checkpoint(tmp_path / "exp" / "weave")) == str(exported)
    read: list[str] = []

    def spy(location):
        read.append(str(location))
        raise _Stop

    monkeypatch.setattr(predict, "read_checkpoint", spy)
    monkeypatch.setattr(onnx_model, "read_checkpoint", spy)
    with pytest.raises(_Stop):
        predict_images([], out_dir=tmp_path / "out", checkpoint=tmp_path / "exp", device="cpu")
    with pytest.raises(_Stop):
        onnx_model.export_onnx(tmp_path / "exp", out=tmp_path / "model.onnx")
    assert read == [str(exported)] * 2
    assert json.loads((tmp_path / "exp" / "weave" / "confirmation.json").read_text())["exported"] == DEFAULT


def test_an_argument_names_one_category_or_says_why_not(tmp_path):
    files = _write_experiment(tmp_path / "exp", categories=("weave", "washer"))
    (tmp_path / "empty").mkdir()
    cases = {
        (tmp_path / "exp", None): "exp: holds several categories (washer, weave); pass --category",
        (tmp_path / "exp", "wave"): "exp: no category 'wave' in this experiment (did you mean 'weave'?) (it has: washer, weave)",
        (tmp_path / "missing", None): "missing: no such experiment folder",
        (tmp_path / "empty", None): "empty: not a glass-tune experiment (no category search found)",
    }
    for (path, category), message in cases.items():
        with pytest.raises(UserError) as caught:
            open_category(path, category=category)
        assert str(caught.value) == f"{tmp_path}/{message}"
    with pytest.raises(UserError, match=r"empty: not a glass-tune experiment \(missing search.yaml\)"):
        open_experiment(tmp_path / "empty")
    for path, category in ((tmp_path / "exp", "washer"), (tmp_path / "exp" / "washer", None)):
        view = open_category(path, category=category)
        assert (view.name, view.objective) == ("washer", Objective("best_score", "max"))
        assert str(view.exported_checkpoint()) == str(files["washer/default2"])
    status = experiment_status(experiment=str(tmp_path / "exp" / "weave"))  # a category folder opens its experiment
    assert status.experiment == str(tmp_path / "exp") and [c.category for c in status.categories] == ["weave", "washer"]
    assert status.categories[0].finalists == [DEFAULT, "best"]


def test_a_bare_category_search_exports_its_best_trial(tmp_path):
    """A Ray experiment with no search.yaml beside it: the default objective, no confirmation."""
    files = write_category(
        tmp_path / "weave", [HandTrial("low", _config(3), _result(0.5)), HandTrial("high", _config(4), _result(0.8))]
    )
    view = open_category(tmp_path / "weave")
    assert view.objective == Objective() and view.exported_trial().confirmation is None
    assert str(view.exported_checkpoint()) == str(files["high"]) == str(locate_checkpoint(tmp_path / "weave"))
    with pytest.raises(UserError, match="missing search.yaml"):
        open_experiment(tmp_path / "weave")


def test_the_reports_model_figures_show_the_exported_trial(tmp_path, monkeypatch):
    from glass_tune.report import build

    files = _write_experiment(tmp_path / "exp")
    drawn: list[tuple[str, str]] = []

    def spy(trial, *, category_dir, device, notes):
        drawn.append((trial.trial_id, str(category_dir)))
        return []

    monkeypatch.setattr(build, "best_trial_plots", spy)
    view = open_experiment(tmp_path / "exp")
    section = build.build_section(view, view.category("weave").location, device="cpu", cache=tmp_path / "cache")
    assert section.best.trial_id == "best"  # the search's best trial is still the one its table names
    assert drawn == [("default2", str(files["weave/default2"].parents[2]))]  # ... but the model shown is the export's
