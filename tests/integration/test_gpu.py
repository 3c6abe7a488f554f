"""GPU checks (marker ``gpu``, excluded by default; run ``pytest -m gpu`` on a CUDA machine).

They fail, rather than skip, on a machine without CUDA: selecting them there is a mistake.
"""

from __future__ import annotations

import math

import pytest
import torch

from glass_tune.model import GlassModel
from glass_tune.training.loop import evaluate_dataset, fit
from glass_tune.training.run_inputs import prepare_data, resolve_run_config

pytestmark = pytest.mark.gpu


@pytest.fixture
def cuda():
    if not torch.cuda.is_available():
        pytest.fail("gpu tests need a CUDA device")
    return torch.device("cuda")


def test_training_on_cuda_gives_finite_metrics_and_frees_memory(tiny_config, cuda):
    result = fit(tiny_config.replace(device="cuda", epochs=2))
    assert all(not math.isnan(result.best[k]) for k in ("image_auroc", "pixel_auroc"))
    torch.cuda.empty_cache()
    assert torch.cuda.memory_allocated() < 64 * 2**20


def test_cuda_inference_matches_cpu(tiny_config, cuda):
    cfg = resolve_run_config(tiny_config)
    torch.manual_seed(0)
    model = GlassModel.from_config(cfg)
    data = prepare_data(cfg, feature_grid=model.feature_grid)
    on_cpu = evaluate_dataset(model, data.val, cfg, torch.device("cpu"))
    on_gpu = evaluate_dataset(model.to(cuda), data.val, cfg, cuda)
    assert abs(on_cpu.scores - on_gpu.scores).max() < 1e-3
    assert abs(on_cpu.maps - on_gpu.maps).max() < 1e-3


# --- the GPU path of issue 9 (precision, channels_last, peak memory, cache storage, memory cap) ---


@pytest.fixture
def frozen_cuda_config(tiny_config, tmp_path):
    import timm

    weights = tmp_path / "resnet18.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), weights)
    return tiny_config.replace(device="cuda", pre_trained=True, backbone_weights=str(weights))


@pytest.mark.parametrize("precision", ["fp32", "tf32", "bf16"])
def test_each_precision_trains_and_reports_peak_memory(frozen_cuda_config, cuda, precision):
    result = fit(frozen_cuda_config.replace(precision=precision))
    assert all(row["gpu_peak_mem_mb"] > 0 for row in result.history)
    assert not math.isnan(result.best["image_auroc"]) and math.isfinite(result.history[-1]["loss"])
    assert torch.backends.cuda.matmul.allow_tf32 == (precision == "tf32")


def test_cuda_run_uses_channels_last_and_keeps_the_cache_on_the_device(frozen_cuda_config, cuda):
    from glass_tune.training.loop import start_run

    run = start_run(frozen_cuda_config, out_dir=None, resume=None)
    convs = [m for m in run.model.backbone.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(c.weight.is_contiguous(memory_format=torch.channels_last) for c in convs)
    assert run.features is not None and run.features.train.features.device.type == "cuda"
    assert run.features.train.features.dtype == torch.float32


def test_cache_goes_to_fp16_then_to_pinned_host_memory_as_the_budget_shrinks(cuda, monkeypatch):
    from glass_tune.model import feature_cache

    need = 10**6
    monkeypatch.setattr(feature_cache, "free_memory_bytes", lambda d: need if d.type == "cuda" else 10**12)
    assert feature_cache.cache_storage(need, cuda) == (cuda, torch.float16)
    monkeypatch.setattr(feature_cache, "free_memory_bytes", lambda d: 0 if d.type == "cuda" else 10**12)
    assert feature_cache.cache_storage(need, cuda) == (torch.device("cpu"), torch.float32)


def test_memory_fraction_guard_caps_the_process(cuda):
    from glass_tune.util.runtime import limit_gpu_memory

    try:
        assert limit_gpu_memory(0.25) is True
        assert torch.cuda.get_per_process_memory_fraction() == pytest.approx(0.25)
    finally:
        torch.cuda.set_per_process_memory_fraction(1.0)
