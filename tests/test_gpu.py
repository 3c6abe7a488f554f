"""GPU checks (marker ``gpu``, excluded by default; run ``pytest -m gpu`` on a CUDA machine).

They fail, rather than skip, on a machine without CUDA: selecting them there is a mistake.
"""

from __future__ import annotations

import math

import pytest
import torch

from glass_tune.model import GlassModel
from glass_tune.run_data import prepare_data, resolve_run_config
from glass_tune.training import fit, predict_dataset

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
    on_cpu = predict_dataset(model, data.val, cfg, torch.device("cpu"))
    on_gpu = predict_dataset(model.to(cuda), data.val, cfg, cuda)
    assert abs(on_cpu.scores - on_gpu.scores).max() < 1e-3
    assert abs(on_cpu.maps - on_gpu.maps).max() < 1e-3
