"""``glass-tune predict --checkpoint`` on checkpoints from elsewhere: an older version's, a hostile one."""

from __future__ import annotations

import csv

from glass_tune.cli.main import main
from tests.helpers.checkpoint_files import LEGACY_CHECKPOINT, write_bomb


def test_predict_refuses_a_hostile_checkpoint_in_one_line_without_running_it(tmp_path, synthetic_root, capsys):
    marker = tmp_path / "marker"
    bomb = write_bomb(tmp_path / "checkpoint.pt", marker)
    image = next((synthetic_root / "weave" / "test" / "good").glob("*.png"))
    assert main(["predict", "--checkpoint", str(bomb), str(image), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"glass-tune predict: error: {bomb}: holds objects that are not plain data")
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_predict_with_an_older_versions_checkpoint(tmp_path, synthetic_root):
    images = sorted((synthetic_root / "weave" / "test").glob("*/000.png"))[:2]
    args = ["predict", "--checkpoint", str(LEGACY_CHECKPOINT), *map(str, images), "--out", str(tmp_path)]
    assert main([*args, "--threshold", "0.5"]) == 0  # written before thresholds were calibrated
    assert len(list(csv.DictReader((tmp_path / "scores.csv").open()))) == 2
