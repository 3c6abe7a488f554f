"""Official Perlin masks."""

from __future__ import annotations

import numpy as np
import pytest

from glass_tune.data.perlin import COMBINE_MODES, combine_masks, perlin_mask, perlin_noise, single_perlin_mask


@pytest.mark.parametrize("shape", [(96, 96), (128, 128), (288, 288), (100, 150), (64, 200)])
def test_masks_are_binary_and_of_the_requested_size(shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    masks = [perlin_mask(shape, rng) for _ in range(8)]
    for mask in masks:
        assert mask.shape == shape
        assert set(np.unique(mask)) <= {0.0, 1.0}
    assert any(m.any() for m in masks)


def test_same_seed_same_mask_and_different_seed_different_mask() -> None:
    a = perlin_mask((128, 96), np.random.default_rng(7))
    b = perlin_mask((128, 96), np.random.default_rng(7))
    masks = [perlin_mask((128, 96), np.random.default_rng(s)) for s in range(8, 12)]
    np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, m) for m in masks)


def test_noise_vanishes_on_the_lattice_and_stays_bounded() -> None:
    # Gradient noise is 0 at lattice points; 288 with 4 periods has a lattice point every 72 px.
    noise = perlin_noise((288, 288), (4, 4), np.random.default_rng(0))
    np.testing.assert_allclose(noise[::72, ::72], 0.0, atol=1e-12)
    assert np.abs(noise).max() <= 1.0 + 1e-9
    assert noise.std() > 0.05


def test_noise_for_a_size_that_is_not_a_multiple_of_the_periods() -> None:
    noise = perlin_noise((100, 150), (32, 8), np.random.default_rng(0))
    assert noise.shape == (100, 150) and np.isfinite(noise).all()


def test_resolution_changes_the_blob_size() -> None:
    """Coarse noise (1 period) varies smoothly, fine noise (32 periods) from pixel to pixel."""
    coarse = perlin_noise((128, 128), (1, 1), np.random.default_rng(0))
    fine = perlin_noise((128, 128), (32, 32), np.random.default_rng(0))
    step = lambda n: np.abs(np.diff(n, axis=1)).mean()  # noqa: E731
    assert step(fine) > 5 * step(coarse)


def test_all_three_combination_modes_occur_with_their_formula() -> None:
    rng = np.random.default_rng(0)
    a = (rng.random((16, 16)) > 0.5).astype(np.float32)
    b = (rng.random((16, 16)) > 0.5).astype(np.float32)
    counts = dict.fromkeys(COMBINE_MODES, 0)
    expected = {"union": np.maximum(a, b), "intersection": a * b, "first": a}
    for _ in range(600):
        mask, mode = combine_masks(a, b, rng)
        np.testing.assert_array_equal(mask, expected[mode])
        counts[mode] += 1
    assert all(150 < c < 250 for c in counts.values()), counts


def test_single_mask_is_rotated_noise_thresholded_at_half() -> None:
    mask = single_perlin_mask((96, 96), np.random.default_rng(3))
    assert mask.dtype == np.float32 and mask.mean() < 0.5
