"""Reading an experiment someone else wrote never runs its code.

A copy of the shared finished search gets a pickle bomb in every pickled file Ray keeps (each
cloudpickled value of its experiment state, the search generator's state, tuner.pkl, the searcher's
state, each trial's params.pkl and error.pkl): the read-only commands still read it and the
bomb's marker never appears. A bomb as the exported checkpoint ends them with one line and exit 2.
Only ``tune --resume`` restores Ray's state (README: "Files from others").
"""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest

from glass_tune.cli.main import main
from tests.helpers.checkpoint_files import PickleBomb, write_bomb
from tests.helpers.searched import CATEGORIES

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("shared-search")]  # reads the shared finished search

PICKLED = "CLOUDPICKLE_FALLBACK"


def _bombed_json(value, bomb_hex: str):
    """``value`` with every cloudpickled value replaced by the bomb (also inside JSON held as strings)."""
    if isinstance(value, dict):
        if value.get("_type") == PICKLED:
            return {"_type": PICKLED, "value": bomb_hex}
        return {k: _bombed_json(v, bomb_hex) for k, v in value.items()}
    if isinstance(value, list):
        return [_bombed_json(v, bomb_hex) for v in value]
    if isinstance(value, str) and value.startswith("{") and PICKLED in value:
        return json.dumps(_bombed_json(json.loads(value), bomb_hex))
    return value


def plant_bombs(experiment: Path, marker: Path) -> int:
    """A bomb in every pickled file and value of Ray's state under ``experiment``; returns how many files."""
    bomb = pickle.dumps(PickleBomb(marker))
    planted = 0
    for path in experiment.rglob("*"):
        if path.suffix == ".pkl" or path.name.startswith("search_gen_state-"):  # the latter: a pickle named .json
            path.write_bytes(bomb)
        elif path.name.startswith("experiment_state-"):
            path.write_text(json.dumps(_bombed_json(json.loads(path.read_text()), bomb.hex())))
        else:
            continue
        planted += 1
    return planted


@pytest.fixture()
def hostile(experiment: Path, tmp_path: Path) -> tuple[Path, Path]:
    copy, marker = tmp_path / "rep", tmp_path / "marker"
    shutil.copytree(experiment, copy)
    assert plant_bombs(copy, marker) >= 4 * len(CATEGORIES)
    return copy, marker


def _image(data_root: Path) -> str:
    return str(next((data_root / "weave" / "test").glob("*/*.png")))


def _read_everything(experiment: Path, out: Path, image: str, capsys) -> None:
    """Every read-only command on the experiment, each succeeding."""
    from glass_tune.experiment.view import open_experiment
    from glass_tune.report.dashboard import server_commands

    assert main(["status", str(experiment)]) == 0
    for fmt in ("yaml", "json", "anomalib", "official", "onnx"):
        assert main(["export", str(experiment), "--category", "weave", "--format", fmt, "--out", str(out / f"best.{fmt}")]) == 0
    assert main(["predict", "--checkpoint", str(experiment), "--category", "weave", image, "--out", str(out / "pred")]) == 0
    assert main(["report", str(experiment), "--out", str(out / "report"), "--device", "cpu"]) == 0
    server_commands(open_experiment(experiment), tensorboard_port=1, optuna_port=2, cache=out / "cache")  # what dashboard reads
    capsys.readouterr()


def test_read_only_commands_never_unpickle_an_experiment(hostile, synthetic_root, tmp_path, capsys):
    experiment, marker = hostile
    _read_everything(experiment, tmp_path / "out", _image(synthetic_root), capsys)
    assert not marker.exists()


def test_an_experiment_from_before_the_index_is_read_without_unpickling(hostile, synthetic_root, tmp_path, capsys):
    """No trials.json: the plain parts of Ray's (bombed) state are read, the pickled ones left alone."""
    experiment, marker = hostile
    for index in experiment.rglob("trials.json"):
        index.unlink()
    _read_everything(experiment, tmp_path / "out", _image(synthetic_root), capsys)
    assert not marker.exists()


def test_a_hostile_exported_checkpoint_is_one_line_and_exit_2(hostile, synthetic_root, tmp_path, capsys):
    experiment, marker = hostile
    assert main(["export", str(experiment), "--category", "weave", "--format", "json", "--out", str(tmp_path / "best.json")]) == 0
    exported = Path(json.loads((tmp_path / "best.json").read_text())["provenance"]["checkpoint"])
    write_bomb(exported, marker)
    capsys.readouterr()
    image = _image(synthetic_root)
    commands = {
        "export": ["export", str(experiment), "--category", "weave", "--format", "onnx", "--out", str(tmp_path / "m.onnx")],
        "report": ["report", str(experiment), "--out", str(tmp_path / "report"), "--device", "cpu"],
        "predict": ["predict", "--checkpoint", str(experiment), "--category", "weave", image, "--out", str(tmp_path / "pred")],
    }
    for verb, args in commands.items():
        assert main(args) == 2, verb
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"glass-tune {verb}: error: {exported}"), (verb, err)
    assert not marker.exists()
    assert not any((tmp_path / name).exists() for name in ("m.onnx", "report", "pred"))
