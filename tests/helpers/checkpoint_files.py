"""Checkpoint files a reader meets: an older version's (the legacy fixture's) and hostile ones,
pickles that run a shell command when fully unpickled.

Nothing in glass-tune may unpickle a hostile file (checkpoints are read as data only); a test writes
one where a checkpoint belongs and asserts the marker the command would create never appears.
"""

from __future__ import annotations

import io
import os
import pickle
import shlex
from pathlib import Path
from typing import Any

import torch

# a Ray trial checkpoint written by the flat-layout code (tests/fixtures/make_legacy_experiment.py)
LEGACY_CHECKPOINT = next(
    (Path(__file__).parents[1] / "fixtures" / "legacy_experiment").glob("weave/trial_*/checkpoint_*/checkpoint.pt")
)


class PickleBomb:
    """Unpickled, it runs ``touch MARKER`` through ``os.system`` (what an attacker's file would do)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


def write_bomb(path: Path, marker: Path, *, writer: str = "torch", payload: dict[str, Any] | None = None) -> Path:
    """A bomb at ``path``: ``payload`` (default: the bomb alone) with the bomb under ``"bomb"``, written
    by ``torch.save`` (a zip archive, like a real checkpoint) or by plain ``pickle``."""
    obj: Any = PickleBomb(marker) if payload is None else {**payload, "bomb": PickleBomb(marker)}
    buf = io.BytesIO()
    if writer == "torch":
        torch.save(obj, buf)
    else:
        pickle.dump(obj, buf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return path
