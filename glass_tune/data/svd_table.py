"""Per-category choice of the GLASS ``svd`` flag (0 = manifold, 1 = hypersphere), docs/algorithm.md §5.2.

The official trainer reads the "Distribution" column of ``datasets/excel/<dataset>_distribution.xlsx``;
the hypersphere rows are listed here, every other known class of MVTec AD, VisA, MPDD and WFDD is
manifold. Other categories (custom data, the built-in synthetic set) are decided by the official
distribution judge (:mod:`glass_tune.data.distribution`), the criterion those tables were made with.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from glass_tune.data.distribution import judge_images

MANIFOLD, HYPERSPHERE = 0, 1

_HYPERSPHERE = frozenset(
    {
        # MVTec AD
        "bottle",
        "cable",
        "pill",
        "screw",
        "transistor",
        # VisA
        "cashew",
        "fryum",
        "pcb1",
        "pcb2",
        "pcb4",
        "pipe_fryum",
    }
)

_MANIFOLD = frozenset(
    {
        # MVTec AD
        "carpet",
        "grid",
        "leather",
        "tile",
        "wood",
        "capsule",
        "hazelnut",
        "metal_nut",
        "toothbrush",
        "zipper",
        # VisA
        "candle",
        "capsules",
        "chewinggum",
        "macaroni1",
        "macaroni2",
        "pcb3",
        # MPDD (all manifold)
        "bracket_black",
        "bracket_brown",
        "bracket_white",
        "connector",
        "metal_plate",
        "tubes",
        # WFDD (all manifold)
        "grey_cloth",
        "grid_cloth",
        "pink_flower",
        "yellow_cloth",
    }
)


def auto_svd(category: str | None) -> int | None:
    """The official per-class ``svd`` value; None for categories the tables do not list."""
    if category is None or not known_category(category):
        return None
    return HYPERSPHERE if category.strip().lower() in _HYPERSPHERE else MANIFOLD


def known_category(category: str) -> bool:
    """True if ``category`` is in the official tables (MVTec AD, VisA, MPDD, WFDD)."""
    name = category.strip().lower()
    return name in _HYPERSPHERE or name in _MANIFOLD


def choose_svd(category: str, train_paths: Sequence[str | Path]) -> tuple[int, str]:
    """``svd: auto`` for one category: the official table, else the distribution judge; with the reason."""
    official = auto_svd(category)
    if official is not None:
        kind = "hypersphere" if official == HYPERSPHERE else "manifold"
        return official, f"official per-class table: {kind}"
    verdict = judge_images(train_paths)
    return verdict.svd, verdict.reason()
