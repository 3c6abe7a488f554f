"""``glass-tune train --resume`` facing checkpoint files from elsewhere."""

from __future__ import annotations

import pytest

from glass_tune.cli.main import main
from tests.helpers import write_tiny_config
from tests.helpers.checkpoint_files import write_bomb


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
