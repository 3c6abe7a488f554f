"""Patch aggregation (docs/algorithm.md §1.3-1.6): shapes at the paper's settings and the exact pooling layout."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from glass_tune.config.schema import GlassConfig
from glass_tune.model import GlassModel, PatchAggregator, align_patches, mean_map, patch_grid_size, patchify


def test_wide_resnet50_at_288_gives_36x36_grid_of_1536_dim_patches() -> None:
    model = GlassModel.from_config(GlassConfig(pre_trained=False, svd=0))  # paper defaults, random init
    assert model.feature_grid == (36, 36)
    with torch.no_grad():
        features = model.embed(torch.randn(1, 3, 288, 288))
    assert features.shape == (1 * 1296, 1536)


def test_resnet18_at_128_gives_16x16_grid() -> None:
    cfg = GlassConfig(backbone="resnet18", pre_trained=False, input_shape=(128, 128), pretrain_embed_dim=96,
                      target_embed_dim=96, discriminator_hidden=16, svd=0)  # fmt: skip
    model = GlassModel.from_config(cfg)
    assert model.feature_grid == (16, 16)
    with torch.no_grad():
        assert model.embed(torch.randn(2, 3, 128, 128)).shape == (2 * 256, 96)


def test_patch_grid_size_matches_unfold_arithmetic() -> None:
    assert patch_grid_size(36, 3, 1) == 36
    assert patch_grid_size(18, 3, 1) == 18
    assert patch_grid_size(36, 3, 2) == 18
    assert patch_grid_size(36, 1, 1) == 36


def test_patchify_is_a_zero_padded_row_major_unfold() -> None:
    x = torch.arange(1.0, 10.0).reshape(1, 1, 3, 3)  # [[1,2,3],[4,5,6],[7,8,9]]
    patches, grid = patchify(x, patchsize=3, stride=1)
    assert grid == (3, 3)
    assert patches.shape == (1, 9, 1, 3, 3)
    assert torch.equal(patches[0, 0, 0], torch.tensor([[0.0, 0, 0], [0, 1, 2], [0, 4, 5]]))  # top-left
    assert torch.equal(patches[0, 4, 0], x[0, 0])  # centre sees the whole map
    assert torch.equal(patches[0, 5, 0], torch.tensor([[2.0, 3, 0], [5, 6, 0], [8, 9, 0]]))  # (1, 2)


def test_mean_map_averages_consecutive_windows() -> None:
    rows = torch.tensor([[1.0, 3.0, 5.0, 7.0, 9.0, 11.0]])
    assert torch.equal(mean_map(rows, 3), torch.tensor([[2.0, 6.0, 10.0]]))
    assert torch.equal(mean_map(rows, 2), torch.tensor([[3.0, 9.0]]))


def test_single_layer_pool_is_the_mean_of_each_channel_row() -> None:
    """pretrain dim = 3 x channels: output ``c*3 + r`` = mean of row ``r`` of channel ``c``'s 3x3 patch."""
    torch.manual_seed(0)
    maps = torch.randn(1, 4, 5, 5)
    out, grid = PatchAggregator(patchsize=3, patchstride=1, pretrain_embed_dim=12, target_embed_dim=12)([maps])
    padded = F.pad(maps, (1, 1, 1, 1))
    h, w = 2, 3
    neighbourhood = padded[0, :, h : h + 3, w : w + 3]  # C x 3 x 3
    expected = neighbourhood.mean(dim=2).reshape(-1)
    assert grid == (5, 5)
    torch.testing.assert_close(out[h * 5 + w], expected)


def test_aligned_centre_slot_is_the_bilinearly_upsampled_map() -> None:
    torch.manual_seed(0)
    coarse = torch.randn(2, 3, 4, 4)
    patches, grid = patchify(coarse, 3, 1)
    aligned = align_patches(patches, grid, (8, 8))
    assert aligned.shape == (2, 64, 3, 3, 3)
    centre = aligned[:, :, :, 1, 1].permute(0, 2, 1).reshape(2, 3, 8, 8)
    torch.testing.assert_close(centre, F.interpolate(coarse, size=(8, 8), mode="bilinear", align_corners=False))
    assert align_patches(patches, grid, grid) is patches


def test_first_half_of_dims_comes_only_from_the_first_layer() -> None:
    """Spec §1.6: the final pool averages pairs, so dims 0..D/2-1 are layer 1, the rest layer 2."""
    torch.manual_seed(0)
    layer1, layer2 = torch.randn(1, 8, 4, 4), torch.randn(1, 16, 2, 2)
    agg = PatchAggregator(patchsize=3, patchstride=1, pretrain_embed_dim=24, target_embed_dim=24)
    base, _ = agg([layer1, layer2])
    moved2, _ = agg([layer1, layer2 + torch.randn_like(layer2)])
    moved1, _ = agg([layer1 + torch.randn_like(layer1), layer2])
    assert torch.equal(moved2[:, :12], base[:, :12]) and not torch.allclose(moved2[:, 12:], base[:, 12:])
    assert torch.equal(moved1[:, 12:], base[:, 12:]) and not torch.allclose(moved1[:, :12], base[:, :12])
