"""``glass-tune train --resume`` and ``convert-checkpoint`` facing checkpoint files from elsewhere."""

from __future__ import annotations

import pytest
import torch

from glass_tune.cli.main import main
from glass_tune.training.checkpoint import FORMAT, load_checkpoint
from tests.helpers import write_tiny_config
from tests.helpers.checkpoint_files import LEGACY_CHECKPOINT, write_bomb


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def test_resume_refuses_a_hostile_last_checkpoint_without_running_it(tmp_path, synthetic_root, capsys):
    out, marker = tmp_path / "run", tmp_path / "marker"
    bomb = write_bomb(out / "checkpoints" / "last.pt", marker)
    args = ["train", "--data", str(synthetic_root), "--category", "weave", "--epochs", "2", "--out", str(out)]
    assert main([*args, "--config", str(write_tiny_config(tmp_path / "tiny.yaml")), "--resume"]) == 2
    err = capsys.readouterr().err.strip()  # the run's notices come first, then the error line
    assert "Traceback" not in err and len([line for line in err.splitlines() if "error:" in line]) == 1
    assert err.splitlines()[-1].startswith(
        f"glass-tune train: error: {bomb}: holds objects that are not plain data (posix.system)"
    )
    assert not marker.exists()


def test_convert_checkpoint_needs_trust_then_writes_a_data_only_file(tmp_path, capsys):
    marker = tmp_path / "marker"
    payload = {"format": FORMAT, **{k: v for k, v in torch.load(LEGACY_CHECKPOINT, weights_only=True).items() if k != "format"}}
    bomb = write_bomb(tmp_path / "checkpoint.pt", marker, payload=payload)

    assert main(["convert-checkpoint", str(bomb)]) == 2
    assert "pass --trust only for a file from a source you trust" in _one_line_error(capsys)
    assert not marker.exists()

    assert main(["convert-checkpoint", str(bomb), "--trust", "--out", str(tmp_path / "data.pt")]) == 0
    assert marker.exists()  # the user's explicit choice: the file was read with full pickle
    assert torch.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "data.pt") == []
    assert load_checkpoint(tmp_path / "data.pt").epoch == 1

    assert main(["convert-checkpoint", str(tmp_path / "missing.pt"), "--trust"]) == 2
    assert _one_line_error(capsys).endswith("missing.pt: checkpoint file not found")
