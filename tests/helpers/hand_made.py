"""An experiment written by hand, without Ray: the folders and plain files glass-tune's readers use.

Every reader (the opener, export, status, predict's checkpoint location) reads trials from the trial
index (``trials.json``), so a hand-written index makes them run as they do on a real experiment.
Checkpoint files are placeholders: a test that reads one stops at the read (see ``tests/unit/experiment``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from glass_tune.experiment.protocol import CHECKPOINT_FILE
from glass_tune.experiment.storage import resolve
from glass_tune.experiment.trial_index import TrialRecord, write_trial_index


@dataclass
class HandTrial:
    """One trial as the driver would record it."""

    trial_id: str
    config: dict[str, Any]
    last_result: dict[str, Any]
    status: str = "TERMINATED"
    error: str | None = None

    @property
    def folder(self) -> str:
        return f"trial_{self.trial_id}"


def write_category(folder: Path, trials: Sequence[HandTrial]) -> dict[str, Path]:
    """A category search in ``folder`` holding ``trials``, each with one kept checkpoint; returns their
    checkpoint files by trial id."""
    files, records = {}, []
    for t in trials:
        kept = f"{t.folder}/checkpoint_000000"
        (folder / kept).mkdir(parents=True)
        (folder / kept / CHECKPOINT_FILE).write_bytes(b"a placeholder, never loaded")
        files[t.trial_id] = folder / kept / CHECKPOINT_FILE
        records.append(TrialRecord(t.trial_id, t.status, t.config, t.last_result, t.error, checkpoint=kept, folder=t.folder))
    write_trial_index(resolve(str(folder)), records)
    return files
