"""GlassModel end to end on a tiny resnet18 (64x64 input, 8x8 grid): losses, gradients, center, predict."""

from __future__ import annotations

import inspect
import math
import time

import numpy as np
import pytest
import timm
import torch
from scipy import ndimage

from glass_tune.config.schema import GlassConfig, fields_in
from glass_tune.model import Discriminator, GlassModel, Projection, anomaly_maps, gaussian_blur, gaussian_kernel1d
from glass_tune.model.glass import check_buildable
from glass_tune.util.errors import ConfigError

SIZE = 64
BATCH = 2
SMALL = GlassConfig(
    backbone="resnet18", pre_trained=False, input_shape=(SIZE, SIZE), pretrain_embed_dim=48,
    target_embed_dim=48, discriminator_hidden=16, step=6, svd=0,
)  # fmt: skip


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> str:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), path)
    return str(path)


def _model(**changes: object) -> GlassModel:
    torch.manual_seed(0)
    return GlassModel.from_config(SMALL.replace(**changes))


def _batch(model: GlassModel, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    images = torch.randn(BATCH, 3, SIZE, SIZE, generator=gen)
    aug = torch.randn(BATCH, 3, SIZE, SIZE, generator=gen)
    mask = (torch.rand(BATCH, *model.feature_grid, generator=gen) > 0.7).float()
    return images, aug, mask


def _grad_sum(module: torch.nn.Module) -> float:
    return sum(float(p.grad.abs().sum()) for p in module.parameters() if p.grad is not None)


def test_glass_model_keywords_are_the_config_glass_model_group() -> None:
    params = list(inspect.signature(GlassModel.__init__).parameters.values())[1:]  # after self
    assert all(p.kind is p.KEYWORD_ONLY for p in params)
    assert sorted(p.name for p in params) == sorted(fields_in(group="glass_model"))
    model = _model(step=3, gaussian_noise_std=0.02, mining=False, gas_loop="fast")
    assert (model.step, model.gaussian_noise_std, model.mining, model.gas_loop) == (3, 0.02, False, "fast")


def test_check_buildable_builds_without_weights_or_memory() -> None:
    start = time.monotonic()
    check_buildable([GlassConfig(), SMALL.replace(input_shape=(32, 32))], weights_at_hand=False)  # wide_resnet50_2 at 288 px
    assert time.monotonic() - start < 10  # on the meta device: nothing allocated, nothing loaded
    with pytest.raises(ConfigError, match=r"input_shape \[64, 64\]: backbone 'inception_v3'"):
        check_buildable([SMALL.replace(backbone="inception_v3", layers=["Mixed_7c"])], weights_at_hand=False)


def test_an_even_patch_on_a_one_cell_map_names_patchsize() -> None:
    with pytest.raises(ConfigError) as info:
        check_buildable([SMALL.replace(input_shape=(32, 32), layers=["layer4"], patchsize=4)], weights_at_hand=False)
    assert str(info.value) == (
        "patchsize 4: layer layer4's 1x1 maps at input_shape [32, 32] hold no patch; use an odd patchsize or a larger input_shape"
    )


def test_from_config_needs_a_resolved_svd() -> None:
    with pytest.raises(ConfigError, match="auto"):
        GlassModel.from_config(SMALL.replace(svd="auto"))


@pytest.mark.parametrize("svd", [0, 1])
def test_losses_are_finite_and_reach_adaptor_discriminator_and_trainable_backbone(svd: int) -> None:
    model = _model(svd=svd).train()
    images, aug, mask = _batch(model)
    center = model.compute_center([images]) if svd == 1 else None
    calls: list[int] = []
    model.discriminator.body.block1[1].register_forward_hook(lambda *_: calls.append(1))  # the first BatchNorm
    out = model.training_losses(images, aug, mask, center)
    assert len(calls) == SMALL.step + 2  # step + 1 GAS passes and one LAS pass
    assert torch.isfinite(out.loss)
    torch.testing.assert_close(out.loss, out.true_loss + out.gaus_loss + out.focal_loss)
    torch.testing.assert_close(out.bce_loss, out.true_loss + out.gaus_loss)
    assert 0.0 <= out.p_true <= 1.0 and 0.0 <= out.p_fake <= 1.0
    assert math.isnan(out.r_t) if svd == 0 else out.r_t > 0
    out.loss.backward()
    assert _grad_sum(model.projection) > 0 and _grad_sum(model.discriminator) > 0
    assert model.backbone_trainable and _grad_sum(model.backbone) > 0


def test_frozen_backbone_gets_no_gradients(weights_file: str) -> None:
    model = _model(pre_trained=True, backbone_weights=weights_file).train()
    assert not model.backbone_trainable and not model.backbone.model.training
    images, aug, mask = _batch(model)
    model.training_losses(images, aug, mask).loss.backward()
    assert all(p.grad is None and not p.requires_grad for p in model.backbone.parameters())
    assert _grad_sum(model.projection) > 0 and _grad_sum(model.discriminator) > 0


def test_without_adaptor_the_discriminator_still_trains(weights_file: str) -> None:
    model = _model(pre_projection=0, pre_trained=True, backbone_weights=weights_file).train()
    assert isinstance(model.projection, torch.nn.Identity)
    images, aug, mask = _batch(model)
    out = model.training_losses(images, aug, mask)
    out.loss.backward()
    assert torch.isfinite(out.loss) and _grad_sum(model.discriminator) > 0


def test_svd1_needs_a_center_and_masks_must_match_the_grid() -> None:
    model = _model(svd=1).train()
    images, aug, mask = _batch(model)
    with pytest.raises(ValueError, match="center"):
        model.training_losses(images, aug, mask)
    with pytest.raises(ValueError, match="mask_s"):
        model.training_losses(images, aug, mask[:, :4, :4])


def test_center_is_the_exact_per_sample_mean_with_an_uneven_last_batch() -> None:
    model = _model().eval()
    images = torch.randn(5, 3, SIZE, SIZE)
    center = model.compute_center([images[:2], images[2:4], images[4:]])
    with torch.no_grad():
        feats = model.adapt(model.embed(images)).reshape(5, -1, SMALL.target_embed_dim)
    assert center.shape == (64, SMALL.target_embed_dim) and not center.requires_grad
    torch.testing.assert_close(center, feats.mean(0), atol=1e-5, rtol=1e-5)


def test_same_seed_gives_identical_losses() -> None:
    results = []
    for _ in range(2):
        model = _model(svd=1).train()
        images, aug, mask = _batch(model)
        center = model.compute_center([images])
        torch.manual_seed(42)
        out = model.training_losses(images, aug, mask, center)
        results.append((out.loss.item(), out.gaus_loss.item(), out.focal_loss.item(), out.r_t, out.p_fake))
    assert results[0] == results[1]


def test_losses_from_cached_embeddings_equal_the_full_path(weights_file: str) -> None:
    model = _model(pre_trained=True, backbone_weights=weights_file).train()
    images, aug, mask = _batch(model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(7)
    full = model.training_losses(images, aug, mask)
    model.load_state_dict(state)  # undo the BN running-stat updates
    true_embed, fake_embed = model.embed(images), model.embed(aug)
    torch.manual_seed(7)
    cached = model.training_losses_from_embeddings(true_embed, fake_embed, mask)
    assert torch.equal(full.loss, cached.loss)


def test_predict_scores_are_the_max_raw_patch_score_and_maps_are_blurred_upsamples() -> None:
    model = _model().train()
    images = torch.randn(BATCH, 3, SIZE, SIZE)
    scores, maps = model.predict(images)
    assert model.training  # mode restored
    assert scores.shape == (BATCH,) and maps.shape == (BATCH, SIZE, SIZE)
    model.eval()
    with torch.no_grad():
        raw = model.discriminator(model.adapt(model.embed(images))).reshape(BATCH, *model.feature_grid)
    assert torch.equal(scores, raw.flatten(1).amax(1))
    torch.testing.assert_close(maps, anomaly_maps(raw, (SIZE, SIZE)))


def test_blur_kernel_is_scipys_33_tap_sigma_4_gaussian() -> None:
    kernel = gaussian_kernel1d()
    assert len(kernel) == 33 and kernel.sum().item() == pytest.approx(1.0, abs=1e-12)
    impulse = np.zeros(33)
    impulse[16] = 1.0
    np.testing.assert_allclose(kernel.numpy(), ndimage.gaussian_filter1d(impulse, 4.0), atol=1e-12)


def test_blur_matches_scipy_mirror_everywhere_and_reflect_in_the_interior() -> None:
    rng = np.random.default_rng(0)
    maps = rng.random((2, 48, 56)).astype(np.float32)
    ours = gaussian_blur(torch.from_numpy(maps)).numpy()
    for i in range(2):
        mirror = ndimage.gaussian_filter(maps[i].astype(np.float64), sigma=4, mode="mirror")
        reflect = ndimage.gaussian_filter(maps[i].astype(np.float64), sigma=4, mode="reflect")
        np.testing.assert_allclose(ours[i], mirror, atol=1e-5)
        np.testing.assert_allclose(ours[i, 16:-16, 16:-16], reflect[16:-16, 16:-16], atol=1e-5)
        assert not np.allclose(ours[i], reflect, atol=1e-5)  # the documented edge difference is real


def test_heads_use_official_structure_and_init() -> None:
    torch.manual_seed(0)
    disc = Discriminator(256, n_layers=2, hidden=256)
    proj = Projection(256, n_layers=2)
    assert set(disc.state_dict()) >= {"body.block1.0.weight", "body.block1.0.bias", "body.block1.1.running_mean",
                                      "tail.0.weight"}  # fmt: skip
    assert "tail.0.bias" not in disc.state_dict()
    assert set(proj.state_dict()) == {"layers.0fc.weight", "layers.0fc.bias", "layers.1fc.weight", "layers.1fc.bias"}
    bn = disc.body.block1[1]
    assert torch.equal(bn.weight, torch.ones(256)) and torch.equal(bn.bias, torch.zeros(256))
    xavier_std = math.sqrt(2.0 / (256 + 256))
    assert disc.body.block1[0].weight.std().item() == pytest.approx(xavier_std, rel=0.05)
    bias = proj.layers[0].bias
    assert bias.abs().max() <= 1 / math.sqrt(256) and bias.abs().max() > 0  # PyTorch's default uniform bias
