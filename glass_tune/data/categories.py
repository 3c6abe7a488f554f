"""Per-category choice of the GLASS ``svd`` flag (0 = manifold, 1 = hypersphere), spec §5.2.

The official trainer reads the "Distribution" column of ``datasets/excel/<dataset>_distribution.xlsx``;
the hypersphere rows are listed here, every other known class of MVTec AD, VisA, MPDD and WFDD is
manifold. Unknown categories get 0, which is what the official custom-data script forces
(``--distribution 2``) — the official fallback for a missing row would be the spectrum "judge" mode,
which does not train at all.
"""

from __future__ import annotations

MANIFOLD, HYPERSPHERE = 0, 1

_HYPERSPHERE = frozenset({
    # MVTec AD
    "bottle", "cable", "pill", "screw", "transistor",
    # VisA
    "cashew", "fryum", "pcb1", "pcb2", "pcb4", "pipe_fryum",
    # built-in synthetic set: the washer is a centred object with little pose jitter, like MVTec's
    # bottle, so its mean image keeps a sharp structure (the official judge's hypersphere criterion);
    # the weave and marble textures have random phase, so they average out to flat (manifold).
    "washer",
})

_MANIFOLD = frozenset({
    # MVTec AD
    "carpet", "grid", "leather", "tile", "wood", "capsule", "hazelnut", "metal_nut", "toothbrush", "zipper",
    # VisA
    "candle", "capsules", "chewinggum", "macaroni1", "macaroni2", "pcb3",
    # MPDD (all manifold)
    "bracket_black", "bracket_brown", "bracket_white", "connector", "metal_plate", "tubes",
    # WFDD (all manifold)
    "grey_cloth", "grid_cloth", "pink_flower", "yellow_cloth",
    # built-in synthetic set (see above)
    "weave", "marble",
})


def auto_svd(category: str | None) -> int:
    """The official per-class ``svd`` value; 0 (manifold) for unknown or missing categories."""
    if category is None:
        return MANIFOLD
    return HYPERSPHERE if category.strip().lower() in _HYPERSPHERE else MANIFOLD


def known_category(category: str) -> bool:
    """True if ``category`` is in the official tables (or the synthetic set), i.e. not a fallback."""
    name = category.strip().lower()
    return name in _HYPERSPHERE or name in _MANIFOLD
