"""Backbone: layer selection, weight loading (local files, caches, offline failure), frozen vs trainable."""

from __future__ import annotations

import time
from pathlib import Path

import huggingface_hub
import pytest
import timm
import torch
from safetensors.torch import save_file

from glass_tune.model import Backbone, resolve_weights_name
from glass_tune.model.backbone import check_weights
from glass_tune.util.errors import ConfigError

SHAPE = (64, 64)


@pytest.fixture
def no_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Empty weight caches and an endpoint that never resolves (RFC 2606 ``.invalid``)."""
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setattr(huggingface_hub.constants, "ENDPOINT", "https://hub.glass-tune-test.invalid")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for var in ("HF_HUB_OFFLINE", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _random_resnet18_state() -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return timm.create_model("resnet18", pretrained=False).state_dict()


def _assert_loaded(backbone: Backbone, state: dict[str, torch.Tensor]) -> None:
    loaded = backbone.model.state_dict()
    assert loaded, "no weights in the feature model"
    for key, value in loaded.items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(value, state[key]), key


def test_untagged_names_resolve_to_torchvision_weights() -> None:
    assert resolve_weights_name("wide_resnet50_2") == "wide_resnet50_2.tv_in1k"
    assert resolve_weights_name("resnet18") == "resnet18.tv_in1k"
    assert resolve_weights_name("wide_resnet50_2.racm_in1k") == "wide_resnet50_2.racm_in1k"
    assert resolve_weights_name("efficientnet_b0") == "efficientnet_b0"  # no tv tag: timm's default


def test_unknown_layer_names_backbone_and_available_layers() -> None:
    with pytest.raises(ConfigError) as info:
        Backbone("resnet18", ["layer2", "layer9"], input_shape=SHAPE, pretrained=False)
    message = str(info.value)
    assert "layer9" in message and "resnet18" in message and "act1, layer1, layer2, layer3, layer4" in message
    assert "\n" not in message


def test_unknown_backbone_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="not_a_net"):
        Backbone("not_a_net", ["layer2"], input_shape=SHAPE, pretrained=False)


def test_maps_come_back_in_the_requested_order_with_traced_sizes() -> None:
    backbone = Backbone("resnet18", ["layer3", "layer2"], input_shape=SHAPE, pretrained=False)
    maps = backbone(torch.randn(1, 3, *SHAPE))
    assert [tuple(m.shape[1:]) for m in maps] == [(256, 4, 4), (128, 8, 8)]
    assert backbone.feature_sizes == [(4, 4), (8, 8)]


def test_unused_deeper_layers_do_not_limit_the_input_size() -> None:
    """resnet18 at 32 px: layer4's maps are 1x1, which a train-mode BatchNorm refuses for one image; the
    probe traces in eval mode and only up to the deepest layer asked for (a search once errored here)."""
    backbone = Backbone("resnet18", ["layer2", "layer3"], input_shape=(32, 32), pretrained=False)
    assert backbone.feature_sizes == [(4, 4), (2, 2)]
    assert Backbone("resnet18", ["layer4"], input_shape=(32, 32), pretrained=False).feature_sizes == [(1, 1)]


def test_an_input_too_small_for_the_layers_names_input_shape_and_a_size_that_works() -> None:
    with pytest.raises(ConfigError) as info:
        Backbone("inception_v3", ["Mixed_5d", "Mixed_7c"], input_shape=(64, 64), pretrained=False)
    message = str(info.value)
    assert message.startswith("input_shape [64, 64]: backbone 'inception_v3' cannot compute layers Mixed_5d, Mixed_7c")
    assert message.endswith("the smallest square multiple of 32 that works is [96, 96]") and "\n" not in message
    assert Backbone("inception_v3", ["Mixed_5d"], input_shape=(64, 64), pretrained=False).feature_sizes == [(5, 5)]


def test_random_init_backbone_is_trainable_and_follows_mode() -> None:
    backbone = Backbone("resnet18", ["layer2"], input_shape=SHAPE, pretrained=False)
    assert backbone.trainable and all(p.requires_grad for p in backbone.parameters())
    backbone.train()
    assert backbone.model.training
    backbone.eval()
    assert not backbone.model.training


def test_local_state_dict_loads_and_freezes(tmp_path: Path) -> None:
    state = _random_resnet18_state()
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    backbone = Backbone("resnet18", ["layer2", "layer3"], input_shape=SHAPE, pretrained=True, weights_path=str(path))
    _assert_loaded(backbone, state)
    assert not backbone.trainable and not any(p.requires_grad for p in backbone.parameters())
    backbone.train()
    assert not backbone.model.training and not any(m.training for m in backbone.model.modules())
    assert backbone(torch.randn(1, 3, *SHAPE))[0].grad_fn is None


def test_wrapped_prefixed_torchvision_style_checkpoint_loads(tmp_path: Path) -> None:
    state = _random_resnet18_state()
    old_torchvision = {f"module.{k}": v for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "ckpt.pth"
    torch.save({"epoch": 3, "state_dict": old_torchvision}, path)
    backbone = Backbone("resnet18", ["layer2"], input_shape=SHAPE, pretrained=True, weights_path=str(path))
    _assert_loaded(backbone, state)


def test_classifier_keys_are_optional(tmp_path: Path) -> None:
    state = {k: v for k, v in _random_resnet18_state().items() if not k.startswith("fc.")}
    path = tmp_path / "headless.pth"
    torch.save({"model": state}, path)
    _assert_loaded(Backbone("resnet18", ["layer1"], input_shape=SHAPE, pretrained=True, weights_path=str(path)), state)


def test_wrong_weight_files_are_config_errors_naming_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pth"
    with pytest.raises(ConfigError, match="nope.pth"):
        Backbone("resnet18", ["layer2"], input_shape=SHAPE, pretrained=True, weights_path=str(missing))

    other_arch = tmp_path / "resnet34.pth"
    torch.save(timm.create_model("resnet34", pretrained=False).state_dict(), other_arch)
    with pytest.raises(ConfigError, match="resnet34.pth.*does not match backbone 'resnet18'"):
        Backbone("resnet18", ["layer2"], input_shape=SHAPE, pretrained=True, weights_path=str(other_arch))

    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"definitely not a checkpoint")
    with pytest.raises(ConfigError, match="garbage.pth"):
        Backbone("resnet18", ["layer2"], input_shape=SHAPE, pretrained=True, weights_path=str(garbage))


def test_weights_file_without_pretrained_is_rejected(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="pre_trained"):
        Backbone("resnet18", ["layer2"], input_shape=SHAPE, pretrained=False, weights_path=str(tmp_path / "w.pth"))
    with pytest.raises(ConfigError, match="pre_trained"):
        check_weights("resnet18", pretrained=False, weights_path=str(tmp_path / "w.pth"), at_hand=False)


def _assert_fails_fast_offline() -> None:
    start = time.monotonic()
    with pytest.raises(ConfigError) as info:
        Backbone("resnet18", ["layer2"], input_shape=SHAPE, pretrained=True)
    elapsed = time.monotonic() - start
    message = str(info.value)
    assert "backbone_weights" in message and "resnet18" in message and "offline" in message
    assert elapsed < 30, f"offline failure took {elapsed:.1f}s"


def test_unreachable_hub_fails_fast_with_a_pointer_to_backbone_weights(no_hub: Path) -> None:
    _assert_fails_fast_offline()


def test_hf_hub_offline_fails_fast(no_hub: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    _assert_fails_fast_offline()


def test_weights_at_hand_are_checked_without_loading_or_downloading(no_hub: Path, tmp_path: Path) -> None:
    check_weights("resnet18", pretrained=True, weights_path=None, at_hand=False)  # not asked: nothing probed
    with pytest.raises(ConfigError, match="offline"):
        check_weights("resnet18", pretrained=True, weights_path=None, at_hand=True)
    with pytest.raises(ConfigError, match="nope.pth': file not found"):
        check_weights("resnet18", pretrained=True, weights_path=str(tmp_path / "nope.pth"), at_hand=True)
    path = tmp_path / "resnet18.pth"
    torch.save(_random_resnet18_state(), path)
    check_weights("resnet18", pretrained=True, weights_path=str(path), at_hand=True)
    check_weights("resnet18", pretrained=False, weights_path=None, at_hand=True)  # random init needs none


def test_torch_hub_cache_is_used_without_network(no_hub: Path) -> None:
    """Where torchvision (and the official code) put the weights: ``$TORCH_HOME/hub/checkpoints``."""
    state = _random_resnet18_state()
    checkpoints = no_hub / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    torch.save(state, checkpoints / "resnet18-f37072fd.pth")  # the resnet18.tv_in1k URL's file name
    _assert_loaded(Backbone("resnet18", ["layer2"], input_shape=SHAPE, pretrained=True), state)


def test_hugging_face_cache_is_used_without_network(no_hub: Path) -> None:
    state = _random_resnet18_state()
    repo = no_hub / "hf" / "models--timm--resnet18.tv_in1k"
    revision = "0" * 40
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(revision)
    snapshot = repo / "snapshots" / revision
    snapshot.mkdir(parents=True)
    save_file({k: v.contiguous() for k, v in state.items()}, str(snapshot / "model.safetensors"))
    _assert_loaded(Backbone("resnet18", ["layer2"], input_shape=SHAPE, pretrained=True), state)


def test_safetensors_file_loads(tmp_path: Path) -> None:
    state = _random_resnet18_state()
    path = tmp_path / "resnet18.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    _assert_loaded(Backbone("resnet18", ["layer2"], input_shape=SHAPE, pretrained=True, weights_path=str(path)), state)
