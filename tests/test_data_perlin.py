"""Official Perlin masks and Local Anomaly Synthesis."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from glass_tune.data.las import LocalAnomalySynthesizer, blend, pool_to_grid
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


# --- synthesis -------------------------------------------------------------------------------------


class ConstantTexture:
    """A uniform texture, so the blend can be checked pixel by pixel."""

    def __init__(self, value: float) -> None:
        self.value = value

    def sample(self, input_shape: tuple[int, int], rng: np.random.Generator) -> torch.Tensor:
        return torch.full((3, *input_shape), self.value)


def _synth(shape=(96, 96), grid=(12, 12), value=1.0, **kw) -> LocalAnomalySynthesizer:
    return LocalAnomalySynthesizer(input_shape=shape, feature_grid=grid, textures=ConstantTexture(value), **kw)


@pytest.mark.parametrize(("shape", "grid"), [((96, 96), (12, 12)), ((100, 150), (13, 19)), ((288, 288), (36, 36))])
def test_synthesis_masks_are_non_empty_and_mask_s_is_the_max_pool(shape, grid) -> None:
    synth = _synth(shape, grid)
    for seed in range(6):
        aug, mask_l, mask_s = synth(torch.zeros(3, *shape), np.random.default_rng(seed))
        assert aug.shape == (3, *shape) and mask_l.shape == shape and mask_s.shape == grid
        assert mask_s.sum() > 0
        assert set(mask_l.unique().tolist()) <= {0.0, 1.0}
        torch.testing.assert_close(mask_s, F.adaptive_max_pool2d(mask_l[None, None], grid)[0, 0])
    if shape[0] % grid[0] == 0:  # equal to the official fixed-kernel max-pool when it divides
        k = shape[0] // grid[0]
        torch.testing.assert_close(mask_s, F.max_pool2d(mask_l[None, None], k)[0, 0])


def test_blend_on_constant_images_gives_texture_weight_in_range() -> None:
    """Image 0, texture 1: inside the mask the value is the texture weight 1 - beta in [0.2, 0.8]."""
    synth = _synth(value=1.0)
    weights = []
    for seed in range(40):
        aug, mask_l, _ = synth(torch.zeros(3, 96, 96), np.random.default_rng(seed))
        inside = aug[:, mask_l > 0]
        assert torch.all(aug[:, mask_l == 0] == 0)
        assert torch.allclose(inside, inside.flatten()[0].expand_as(inside))
        weights.append(float(inside.flatten()[0]))
    assert all(0.2 - 1e-6 <= w <= 0.8 + 1e-6 for w in weights)
    assert 0.4 < np.mean(weights) < 0.6 and np.std(weights) > 0.05


def test_blend_formula() -> None:
    x, t = torch.full((3, 2, 2), 0.4), torch.full((3, 2, 2), 0.9)
    m = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    out = blend(x, t, m, beta=0.3)
    assert torch.allclose(out[:, 0, 0], torch.tensor(0.7 * 0.9 + 0.3 * 0.4))
    assert torch.allclose(out[:, 0, 1], torch.tensor(0.4))


def test_same_rng_seed_same_synthesis() -> None:
    synth = _synth()
    image = torch.rand(3, 96, 96, generator=torch.Generator().manual_seed(0))
    a = synth(image, np.random.default_rng(5))
    b = synth(image, np.random.default_rng(5))
    for x, y in zip(a, b, strict=True):
        assert torch.equal(x, y)


def test_foreground_restricts_the_mask() -> None:
    fg = torch.zeros(96, 96)
    fg[24:72, 24:72] = 1
    synth = _synth()
    for seed in range(5):
        _, mask_l, mask_s = synth(torch.zeros(3, 96, 96), np.random.default_rng(seed), fg)
        assert mask_s.sum() > 0 and torch.all(mask_l[fg == 0] == 0)


def test_tiny_foreground_falls_back_to_a_rectangle_inside_it() -> None:
    fg = torch.zeros(96, 96)
    fg[50, 70] = 1  # a single pixel: Perlin masks almost never hit it
    _, mask_l, mask_s = _synth(max_tries=2)(torch.zeros(3, 96, 96), np.random.default_rng(0), fg)
    assert mask_l[50, 70] == 1 and mask_l.sum() == 1 and mask_s.sum() == 1


def test_fallback_without_foreground_is_a_rectangle() -> None:
    synth = _synth(max_tries=0)
    _, mask_l, mask_s = synth(torch.zeros(3, 96, 96), np.random.default_rng(0))
    ys, xs = torch.nonzero(mask_l, as_tuple=True)
    assert mask_l.sum() == (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert mask_s.sum() >= 1


def test_wrong_image_size_is_rejected() -> None:
    with pytest.raises(ValueError, match="96"):
        _synth()(torch.zeros(3, 64, 64), np.random.default_rng(0))


def test_pool_to_grid_marks_a_cell_when_any_pixel_is_set() -> None:
    mask = torch.zeros(16, 16)
    mask[9, 2] = 1
    grid = pool_to_grid(mask, (4, 4))
    assert grid[2, 0] == 1 and grid.sum() == 1
