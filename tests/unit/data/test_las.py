"""Local Anomaly Synthesis: Perlin masks inside the foreground, texture blending, the feature-grid mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from glass_tune.data.las import LocalAnomalySynthesizer, blend, pool_to_grid


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
