"""Synthetic validation defects (generators unlike LAS) and the held-out share of the training images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glass_tune.data.samples import Sample
from glass_tune.data.synthetic_defects import GENERATORS, make_defect
from glass_tune.data.synthetic_validation import hold_out
from glass_tune.util.errors import DataError


def _image(seed: int, size: int = 48) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0.2, 0.8, (size, size, 3))


@pytest.mark.parametrize("kind", list(GENERATORS))
def test_each_generator_changes_exactly_its_mask_and_is_seeded(kind: str) -> None:
    image, pool = _image(0), [_image(1), _image(2)]
    out, mask = make_defect(kind, image, pool, np.random.default_rng(7))
    assert mask.any() and mask.shape == image.shape[:2]
    changed = np.abs(out - image).max(axis=-1) > 0
    assert not changed[~mask].any()  # nothing outside the mask moved
    assert (np.abs(out - image).max(axis=-1)[mask] >= 2 / 255).all()  # every mask pixel visibly changed
    again, mask_again = make_defect(kind, image, pool, np.random.default_rng(7))
    np.testing.assert_array_equal(again, out)
    np.testing.assert_array_equal(mask_again, mask)


def test_defects_stay_inside_the_foreground() -> None:
    foreground = np.zeros((48, 48), dtype=bool)
    foreground[10:30, 10:30] = True
    for kind in GENERATORS:
        out, mask = make_defect(kind, _image(3), [_image(4)], np.random.default_rng(1), foreground=foreground)
        assert mask.any() and not mask[~foreground].any()
        np.testing.assert_array_equal(out[~foreground], _image(3)[~foreground])


def _samples(n: int) -> list[Sample]:
    return [Sample(path=Path(f"/x/{i:03d}.png"), label=0, defect_type="good") for i in range(n)]


def test_hold_out_is_seeded_disjoint_and_keeps_both_sides() -> None:
    held, kept = hold_out(_samples(20), ratio=0.2, seed=3, where=Path("/x"))
    assert len(held) == 4 and len(kept) == 16 and not set(held) & set(kept)
    assert hold_out(_samples(20), ratio=0.2, seed=3, where=Path("/x")) == (held, kept)
    assert hold_out(_samples(20), ratio=0.2, seed=4, where=Path("/x"))[0] != held
    assert [len(p) for p in hold_out(_samples(2), ratio=0.9, seed=0, where=Path("/x"))] == [1, 1]
    with pytest.raises(DataError, match="/x: 1 training image"):
        hold_out(_samples(1), ratio=0.2, seed=0, where=Path("/x"))
