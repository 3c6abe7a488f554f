"""An experiment written by hand, without Ray: the folders and files glass-tune reads itself, and Ray's
reader (``ray.tune.ExperimentAnalysis``) replaced by one that returns the trials given here.

``glass_tune.experiment.results.load_trials`` is the one caller of Ray's reader, so everything above it
(the opener, export, status, predict's checkpoint location) runs as it does on a real experiment.
Checkpoint files are placeholders: a test that reads one stops at the read (see ``tests/unit/experiment``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from glass_tune.search.protocol import CHECKPOINT_FILE

STATE_FILE = "experiment_state-hand.json"  # what marks a folder as a Ray experiment (a category search)


@dataclass
class HandTrial:
    """One trial as Ray's reader would return it."""

    trial_id: str
    config: dict[str, Any]
    last_result: dict[str, Any]
    status: str = "TERMINATED"
    checkpoint_dir: Path | None = field(default=None, init=False)  # set when its folder is written

    @property
    def checkpoint(self) -> Path | None:
        return self.checkpoint_dir

    @property
    def storage(self) -> SimpleNamespace:
        return SimpleNamespace(trial_dir_name=f"trial_{self.trial_id}")

    def get_pickled_error(self) -> BaseException | None:
        return RuntimeError("failed by hand") if self.status == "ERROR" else None


class HandMadeRay:
    """Ray experiment folders written by hand; install it with :func:`hand_made_ray`."""

    def __init__(self) -> None:
        self.folders: dict[str, list[HandTrial]] = {}

    def write_category(self, folder: Path, trials: Sequence[HandTrial]) -> dict[str, Path]:
        """A Ray experiment in ``folder`` holding ``trials``, each with one kept checkpoint; returns their
        checkpoint files by trial id."""
        folder.mkdir(parents=True, exist_ok=True)
        (folder / STATE_FILE).write_text("{}")
        files = {}
        for t in trials:
            kept = folder / t.storage.trial_dir_name / "checkpoint_000000"
            kept.mkdir(parents=True)
            (kept / CHECKPOINT_FILE).write_bytes(b"a placeholder, never loaded")
            t.checkpoint_dir = kept
            files[t.trial_id] = kept / CHECKPOINT_FILE
        self.folders[str(folder.resolve())] = list(trials)
        return files

    def analysis(self, path: str, *, storage_filesystem: Any = None) -> SimpleNamespace:
        if path not in self.folders:
            raise ValueError(f"no experiment state at {path}")
        return SimpleNamespace(
            trials=self.folders[path],
            trial_dataframes={},
            get_best_checkpoint=lambda trial, metric, mode: SimpleNamespace(path=str(trial.checkpoint_dir)),
        )


def hand_made_ray(monkeypatch: pytest.MonkeyPatch) -> HandMadeRay:
    """Replace Ray's experiment reader with one over the folders the returned object writes."""
    ray = HandMadeRay()
    monkeypatch.setattr("ray.tune.ExperimentAnalysis", ray.analysis)
    return ray
