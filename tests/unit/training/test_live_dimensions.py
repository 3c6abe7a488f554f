"""Every parameter the bundled default space searches changes training in the mode where it is
searched, and radius_quantile, which it does not search in manifold mode, changes nothing there.

A few iterations of the tiny CPU profile per value: the mean losses of one epoch are compared.
"""

from __future__ import annotations

import math

import pytest
import torch

from glass_tune.search.space import load_search_space
from glass_tune.training.loop import start_run, train_epoch


def _losses(config) -> dict[str, float]:
    run = start_run(config, out_dir=None, resume=None)
    run.epoch = 1
    return train_epoch(run)


def _ends(config, name):
    """The two ends of ``name``'s range in the space resolved for ``config`` (as a search sees it)."""
    param = load_search_space("default").resolve(config).params[name]
    return param.low, param.high


@pytest.fixture
def base(tiny_config):
    return tiny_config.replace(samples_per_epoch=4, epochs=1)  # 2 batches of 4


@pytest.mark.parametrize(
    "svd, name",
    [
        (0, "step"),
        (0, "gaussian_noise_std"),
        (0, "focal_loss_quantile_threshold"),
        (1, "gaussian_noise_std"),
        (1, "radius_quantile"),
    ],
)
def test_searched_parameter_changes_the_losses(base, svd, name):
    config = base.replace(svd=svd)
    low, high = _ends(config, name)
    if name == "step":  # a range of int: the ends of a short run (each step is one more GAS pass)
        low, high = int(low), int(low) + 3
    a, b = _losses(config.replace(**{name: low})), _losses(config.replace(**{name: high}))
    assert a["loss"] != pytest.approx(b["loss"], rel=1e-6, abs=1e-7), (name, low, high, a, b)


def test_radius_quantile_is_dead_in_manifold_mode(base):
    """Why the default space does not search it there: any value gives exactly the same training."""
    config = base.replace(svd=0)
    assert "radius_quantile" not in load_search_space("default").resolve(config).params
    a, b = _losses(config.replace(radius_quantile=0.5)), _losses(config.replace(radius_quantile=0.95))
    assert math.isnan(a.pop("r_t")) and math.isnan(b.pop("r_t"))  # r_t is not even computed there
    assert a == b


def test_manifold_noise_range_matches_the_embedding(base):
    low, high = _ends(base.replace(svd=0), "gaussian_noise_std")
    dim = base.target_embed_dim
    assert (low * dim**0.5, high * dim**0.5) == pytest.approx((0.5, 1.0))
    torch.manual_seed(0)
    norms = (torch.randn(1000, dim) * low).norm(dim=1)
    assert abs(float(norms.mean()) - 0.5) < 0.05  # ||eps|| ~ sqrt(D) * std: the shell's lower edge
