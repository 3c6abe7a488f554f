"""The seeded, stratified split of a test set into validation and held-out test parts.

Selecting the best epoch (and searching hyperparameters) on the test set reports optimistic
numbers; the split keeps a held-out part that plays no role in any choice. Each defect type is
shuffled by its own generator, seeded by (seed, type name), so a type's split does not change
when other types are added or removed, and the same seed always gives the same split.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from glass_tune.data.samples import GOOD, Sample
from glass_tune.util.errors import DataError


def split_validation(test: Sequence[Sample], *, ratio: float, seed: int, where: Path) -> tuple[list[Sample], list[Sample]]:
    """``(validation, held_out)``: about ``ratio`` of every defect type goes to validation, and each
    part keeps at least one normal and one anomalous image (an error names ``where`` otherwise)."""
    groups: dict[str, list[Sample]] = {}
    for sample in sorted(test, key=lambda s: (s.defect_type, str(s.path))):
        groups.setdefault(sample.defect_type, []).append(sample)
    counts = {name: min(len(g), math.floor(len(g) * ratio + 0.5)) for name, g in groups.items()}
    _keep_normal_in_both(counts, groups, where)
    _keep_anomalous_in_both(counts, groups, where)
    val: list[Sample] = []
    held_out: list[Sample] = []
    for name, group in groups.items():
        order = np.random.default_rng([seed, zlib.crc32(name.encode())]).permutation(len(group))
        chosen = set(order[: counts[name]].tolist())
        for i, sample in enumerate(group):
            (val if i in chosen else held_out).append(sample)
    return val, held_out


def _keep_normal_in_both(counts: dict[str, int], groups: dict[str, list[Sample]], where: Path) -> None:
    n = len(groups.get(GOOD, []))
    if n < 2:
        raise DataError(
            f"{where}: {n} normal test image(s), the validation split needs at least 2 (one per part; or use val_source=test)"
        )
    counts[GOOD] = min(max(counts[GOOD], 1), n - 1)


def _keep_anomalous_in_both(counts: dict[str, int], groups: dict[str, list[Sample]], where: Path) -> None:
    """Rounding per type can put every anomaly on one side; move one image from the largest type."""
    types = [t for t in groups if t != GOOD]
    total = sum(len(groups[t]) for t in types)
    if total < 2:
        raise DataError(
            f"{where}: {total} anomalous test image(s), the validation split needs at least 2 (one per part; "
            "or use val_source=test)"
        )
    in_val = sum(counts[t] for t in types)
    if in_val in (0, total):
        largest = max(types, key=lambda t: (len(groups[t]), t))
        counts[largest] += 1 if in_val == 0 else -1
