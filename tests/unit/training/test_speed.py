"""The speed options on CPU: the frozen-feature cache, the fast GAS loop end to end, bf16 autocast and
the GPU-path helpers' CPU behaviour (their CUDA side is in tests/integration/test_gpu.py)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import timm
import torch

from glass_tune.config.schema import GlassConfig
from glass_tune.model import GlassModel
from glass_tune.model import feature_cache as feature_cache_module
from glass_tune.model.feature_cache import cache_storage
from glass_tune.model.gas import GAS_LOOPS
from glass_tune.training.loop import batches_per_epoch, evaluate_dataset, fit, start_run, train_epoch
from glass_tune.util.errors import ConfigError
from glass_tune.util.runtime import limit_gpu_memory, loader_workers, peak_gpu_memory_mb


@pytest.fixture(scope="module")
def frozen_weights(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A random-init resnet18 state dict: loading it through backbone_weights freezes the backbone."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "resnet18.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), path)
    return str(path)


@pytest.fixture
def frozen_config(tiny_config: GlassConfig, frozen_weights: str) -> GlassConfig:
    return tiny_config.replace(pre_trained=True, backbone_weights=frozen_weights, epochs=3, svd=1)


def _history_without_time(history: list[dict]) -> str:
    """The history as JSON (NaN-safe equality) without the wall-clock field."""
    return json.dumps([{k: v for k, v in row.items() if k != "seconds"} for row in history])


@pytest.mark.integration  # several complete training runs compared end to end
def test_cached_and_uncached_runs_agree_exactly_on_cpu(frozen_config: GlassConfig, tmp_path: Path) -> None:
    """3 epochs with the cache (the default) and without, svd=1 so the center comes from the cache
    too, selection on a validation split with a held-out test.  On CPU the cached embeddings are
    the very numbers the backbone gives per batch (same batches of the same images), so every
    loss, metric, the selected epoch and the held-out figures agree bit for bit; a device whose
    convolutions depend on a batch's composition could differ in the last bits (hence the
    acceptance benchmark's 0.02 AUROC).  Start-up, cache fill included, is reported beside the epochs."""
    cached, uncached = (fit(frozen_config.replace(feature_cache=c), out_dir=tmp_path / str(c)) for c in ("auto", False))
    assert _history_without_time(cached.history) == _history_without_time(uncached.history)
    assert json.dumps([cached.best, cached.test]) == json.dumps([uncached.best, uncached.test])  # NaN-safe
    assert cached.best["epoch"] >= 1 and not math.isnan(cached.best["image_auroc"])
    for result in (cached, uncached):
        doc = json.loads((result.out_dir / "metrics.json").read_text())
        assert doc["startup_seconds"] >= doc["feature_cache_seconds"] >= 0
        assert all("gpu_peak_mem_mb" not in row for row in doc["history"])  # CPU run
    assert cached.startup["feature_cache_seconds"] > 0 and uncached.startup["feature_cache_seconds"] == 0


def _count_embedded_images(model: GlassModel) -> list[int]:
    seen: list[int] = []
    model.backbone.register_forward_pre_hook(lambda _m, args: seen.append(len(args[0])))
    return seen


def test_with_the_cache_only_las_images_go_through_the_backbone(frozen_config: GlassConfig) -> None:
    run = start_run(frozen_config.replace(svd=1), out_dir=None, resume=None)
    assert run.features is not None
    assert len(run.features.train) == len(run.data.train_normal) and len(run.features.val) == len(run.data.val)
    seen = _count_embedded_images(run.model)
    run.epoch = 1
    train_epoch(run)  # svd=1: the center comes from the cache as well
    n_batches = batches_per_epoch(run.config, len(run.data.train))
    assert seen == [run.config.batch_size] * n_batches  # the LAS images of each batch, nothing else
    seen.clear()
    cached = evaluate_dataset(run.model, run.data.val, run.config, run.device, features=run.features.val)
    assert seen == []
    direct = evaluate_dataset(run.model, run.data.val, run.config, run.device)
    assert sum(seen) == len(run.data.val)
    np.testing.assert_array_equal(cached.scores, direct.scores)
    np.testing.assert_array_equal(cached.maps, direct.maps)


def test_feature_cache_settings(frozen_config: GlassConfig, tiny_config: GlassConfig) -> None:
    assert start_run(frozen_config.replace(feature_cache=False), out_dir=None, resume=None).features is None
    assert start_run(tiny_config, out_dir=None, resume=None).features is None  # auto + trainable backbone
    with pytest.raises(ConfigError, match="feature_cache=true needs a frozen backbone"):
        start_run(tiny_config.replace(feature_cache=True), out_dir=None, resume=None)


def test_a_cache_over_the_memory_budget_falls_back_to_embedding(frozen_config, monkeypatch) -> None:
    monkeypatch.setattr(feature_cache_module, "free_memory_bytes", lambda device: 1024)
    assert cache_storage(10**6, torch.device("cpu")) is None
    assert start_run(frozen_config, out_dir=None, resume=None).features is None
    monkeypatch.setattr(feature_cache_module, "free_memory_bytes", lambda device: 10**7)
    assert cache_storage(10**6, torch.device("cpu")) == (torch.device("cpu"), torch.float32)  # fp32 on CPU


@pytest.mark.integration  # several complete training runs compared end to end
def test_training_is_the_same_with_every_gas_loop(tiny_config: GlassConfig) -> None:
    """End to end (trainable backbone, one epoch): ``fast`` gives the reference's epoch losses bit for
    bit, ``hidden`` to float rounding."""
    reference, fast, hidden = (fit(tiny_config.replace(epochs=1, gas_loop=loop)).history for loop in GAS_LOOPS[::-1])
    assert _history_without_time(fast) == _history_without_time(reference)
    assert hidden[0].keys() == reference[0].keys()
    for key, value in reference[0].items():
        if key != "seconds" and isinstance(value, float) and not math.isnan(value):
            assert hidden[0][key] == pytest.approx(value, rel=1e-3, abs=1e-4), key


# --- precision -------------------------------------------------------------------------------------


def _losses(precision: str, frozen_weights: str):
    torch.manual_seed(0)
    cfg = GlassConfig(
        backbone="resnet18", pre_trained=True, backbone_weights=frozen_weights, input_shape=(64, 64),
        pretrain_embed_dim=48, target_embed_dim=48, discriminator_hidden=16, step=4, precision=precision, svd=0,
    )  # fmt: skip
    model = GlassModel.from_config(cfg).train()
    gen = torch.Generator().manual_seed(1)
    images, aug = torch.randn(2, 3, 64, 64, generator=gen), torch.randn(2, 3, 64, 64, generator=gen)
    mask = (torch.rand(2, *model.feature_grid, generator=gen) > 0.7).float()
    torch.manual_seed(2)
    out = model.training_losses(images, aug, mask)
    out.loss.backward()
    return model, out


def test_bf16_autocasts_the_forwards_and_keeps_losses_and_gas_in_float32(frozen_weights: str) -> None:
    model32, out32 = _losses("fp32", frozen_weights)
    model16, out16 = _losses("bf16", frozen_weights)
    assert model16.backbone.autocast_dtype == torch.bfloat16 and model32.backbone.autocast_dtype is None
    assert out16.loss.dtype == torch.float32 and torch.isfinite(out16.loss)
    # bf16 keeps 8 mantissa bits: the losses move by well under 5% (a regression to fp16 overflow or
    # a float32 run would show as a large gap or as an exact match)
    assert out16.loss.item() == pytest.approx(out32.loss.item(), rel=0.05)
    assert out16.loss.item() != out32.loss.item()
    grads = [p.grad for p in model16.projection.parameters()]
    assert all(g is not None and g.dtype == torch.float32 and torch.isfinite(g).all() for g in grads)
    scores, maps = model16.predict(torch.randn(2, 3, 64, 64))
    assert scores.dtype == maps.dtype == torch.float32


def test_gpu_helpers_leave_cpu_runs_alone() -> None:
    assert peak_gpu_memory_mb(torch.device("cpu")) is None
    assert loader_workers(0, cuda=False) == 0 and loader_workers(3, cuda=False) == 3
    assert loader_workers(2, cuda=True) == 2
    torch_threads = torch.get_num_threads()
    assert loader_workers(0, cuda=True) == min(8, max(1, torch_threads) - 1)
    if not torch.cuda.is_available():
        assert limit_gpu_memory(0.5) is False
    assert limit_gpu_memory(1.0) is False
