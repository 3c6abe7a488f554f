"""The one small finished search that the report, dashboard and export tests read."""

from __future__ import annotations

from pathlib import Path

import yaml

from glass_tune.cli.main import main
from tests.helpers.tiny import TWO_PARAM_SPACE, write_tiny_config

CATEGORIES = ("weave", "washer")
EPOCHS = 2
# A stopped trial without depending on what training happens to score: the first trial's learning
# rate saturates the discriminator (constant scores: image and pixel AUROC exactly 0.5, score 1.0);
# the second trains normally, and the tiny random-init model scores below that at ASHA's first rung
# (pixel AUROC ~0.2), so ASHA stops it there.
REPORT_SPACE = {
    **TWO_PARAM_SPACE,
    "params": {**TWO_PARAM_SPACE["params"], "learning_rate": {"type": "float", "low": 1e-5, "high": 10.0, "log": True}},
    "points_to_evaluate": [
        {**TWO_PARAM_SPACE["points_to_evaluate"][0], "learning_rate": 10.0},
        {**TWO_PARAM_SPACE["points_to_evaluate"][0], "learning_rate": 1e-4},
    ],
}


def run_small_search(folder: Path, data_root: Path) -> Path:
    """3 trials x 2 epochs per category, ASHA one trial at a time; the second is stopped early (REPORT_SPACE)."""
    import ray

    write_tiny_config(folder / "tiny.yaml")
    (folder / "space.yaml").write_text(yaml.safe_dump(REPORT_SPACE))
    args = [
        "tune", "--data", str(data_root), "--category", *CATEGORIES, "--config", str(folder / "tiny.yaml"),
        "--space", str(folder / "space.yaml"), "--storage", str(folder), "--name", "rep", "--samples", "3",
        "--epochs", str(EPOCHS), "--grace-period", "1", "--max-concurrent", "1", "--seed", "0",
    ]  # fmt: skip
    try:
        assert main(args) == 0
    finally:
        ray.shutdown()
    return folder / "rep"


def trial_dirs(category_dir: Path) -> list[Path]:
    """The trial folders of one category of an experiment, by name."""
    return sorted(p for p in category_dir.iterdir() if p.is_dir() and p.name.startswith("trial_"))
