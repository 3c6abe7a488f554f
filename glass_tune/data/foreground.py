"""Foreground masks that keep Local Anomaly Synthesis on the object (docs/algorithm.md §3.1 step 4).

As in the official code they live at ``<data root>/fg_mask/<category>/<training file name>``; a mask
named by stem with another image extension (or ``<stem>_mask``) is accepted too. The ``foreground``
setting is ``true`` (required: a missing folder or file is an error), ``false`` (ignored) or
``auto`` (used when the category's folder exists).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from glass_tune.data.samples import MaskIndex, Sample
from glass_tune.util.errors import DataError

FG_DIR = "fg_mask"
AUTO = "auto"


def foreground_dir(root: str | Path, category: str) -> Path:
    return Path(root) / FG_DIR / category


def resolve_foreground(setting: bool | str, root: str | Path, category: str) -> bool:
    """``auto`` becomes whether the category's foreground folder exists."""
    if setting == AUTO:
        return foreground_dir(root, category).is_dir()
    return bool(setting)


def attach_foreground(samples: Sequence[Sample], root: str | Path, category: str) -> list[Sample]:
    """The training samples with ``fg_path`` set; every image needs its mask."""
    folder = foreground_dir(root, category)
    if not folder.is_dir():
        raise DataError(
            f"{folder}: foreground mask folder not found (foreground=true expects {FG_DIR}/<category>/<training file name>)"
        )
    index = MaskIndex(folder)
    out = []
    for sample in samples:
        fg = index.find(sample.path)
        if fg is None:
            raise DataError(f"{folder / sample.path.name}: foreground mask missing for training image {sample.path}")
        out.append(dataclasses.replace(sample, fg_path=fg))
    return out
