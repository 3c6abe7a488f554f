"""Which trained model a ``predict --checkpoint`` or ``export --format onnx`` argument names, and loading it.

The argument (a local path or a storage URI) is a checkpoint file, a train run folder
(``checkpoints/best.pt``, else ``last.pt``), a Ray checkpoint folder (``checkpoint.pt``), a Ray trial
folder (its newest kept checkpoint), or an experiment or one of its category folders: then the
category's exported trial (``glass_tune.experiment.view``), the trial whose config ``export`` writes.
The model is always the run's SELECTED epoch (``Checkpoint.best_model_state``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch

from glass_tune.experiment.protocol import CHECKPOINT_FILE
from glass_tune.experiment.storage import Location, resolve
from glass_tune.experiment.trial_index import RESULTS_FILE, newest_checkpoint
from glass_tune.experiment.view import open_category
from glass_tune.model import GlassModel
from glass_tune.training.checkpoint import Checkpoint, load_checkpoint, selected_model
from glass_tune.util.errors import UserError

RUN_CHECKPOINTS = ("best.pt", "last.pt")  # a train run folder's checkpoints/, in order of preference


def locate_checkpoint(source: str | Path, *, category: str | None = None) -> Location:
    """The checkpoint file behind ``source`` (a local path or a storage URI): a file, a train run
    folder (checkpoints/best.pt), a Ray checkpoint folder (checkpoint.pt), a trial folder (its newest
    kept checkpoint), or an experiment or category folder (its exported trial's checkpoint)."""
    location = resolve(str(source))
    if location.is_file() or not location.exists():
        return location  # read_checkpoint names a missing file
    candidates = [location / CHECKPOINT_FILE] + [location / "checkpoints" / name for name in RUN_CHECKPOINTS]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    if (location / RESULTS_FILE).is_file():  # Ray's result.json marks a trial folder
        return _newest_trial_checkpoint(location)
    return open_category(source, category=category).exported_checkpoint()


def _newest_trial_checkpoint(trial_dir: Location) -> Location:
    """A trial folder's newest kept Ray checkpoint: every checkpoint carries the selected epoch's
    weights as of its epoch, so the newest holds the trial's final selection."""
    newest = newest_checkpoint(trial_dir.parent, trial_dir.name)
    if newest is None:
        raise UserError(f"{trial_dir}: this trial kept no checkpoint")
    return trial_dir.parent / newest / CHECKPOINT_FILE


def read_checkpoint(location: Location) -> Checkpoint:
    """Load a checkpoint file wherever it lives (on object storage through a temporary local copy), as
    data only (``glass_tune.training.checkpoint``)."""
    if location.is_local:
        return load_checkpoint(location.local_path)
    if not location.is_file():
        raise UserError(f"{location}: checkpoint file not found")
    with tempfile.TemporaryDirectory(prefix="glass-tune-checkpoint-") as tmp:
        local = Path(tmp) / location.name
        location.download_to(local)
        return load_checkpoint(local, source=str(location))


def load_trained_model(source: str | Path, *, device: torch.device, category: str | None = None) -> GlassModel:
    """The selected epoch's model behind ``source`` (see :func:`locate_checkpoint`), in eval mode."""
    location = locate_checkpoint(source, category=category)
    return selected_model(read_checkpoint(location), source=str(location)).to(device)
