"""The two trainable heads: the feature adaptor (``pre_projection``) and the patch discriminator.

Initialisation follows the official code, not anomalib (docs/algorithm.md §1.7-1.8, §10.1.8): Linear weights are
``xavier_normal_``, Linear biases keep PyTorch's default uniform init and BatchNorm1d keeps weight 1 /
bias 0 (the official init function only matches BatchNorm2d).  Submodule names mirror the official
modules (``layers.0fc``, ``body.block1``, ``tail``) so official checkpoints load by ``load_state_dict``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from glass_tune.model.precision import autocast_to

LEAKY_SLOPE = 0.2


def _xavier_linear(in_features: int, out_features: int, *, bias: bool = True) -> nn.Linear:
    layer = nn.Linear(in_features, out_features, bias=bias)
    nn.init.xavier_normal_(layer.weight)
    return layer


class Projection(nn.Module):
    """``n_layers`` stacked ``Linear(dim, dim)`` with no activation in between.

    The official ``Projection`` only inserts LeakyReLU for ``layer_type > 1``, which no script uses,
    so the adaptor is affine for every ``pre_projection`` value.
    """

    def __init__(self, dim: int, n_layers: int) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError("Projection needs n_layers >= 1 (use nn.Identity for pre_projection=0)")
        self.layers = nn.Sequential()
        for i in range(n_layers):
            self.layers.add_module(f"{i}fc", _xavier_linear(dim, dim))

    def forward(self, features: Tensor) -> Tensor:
        return self.layers(features)


class Discriminator(nn.Module):
    """Patch classifier: ``n_layers - 1`` Linear-BN1d-LeakyReLU blocks, then Linear(no bias)-Sigmoid.

    The output ``N x 1`` is P(anomalous) per patch (normal = 0).
    """

    def __init__(self, in_dim: int, n_layers: int, hidden: int) -> None:
        super().__init__()
        if n_layers < 1:
            raise ValueError("Discriminator needs n_layers >= 1")
        self.body = nn.Sequential()
        width = in_dim
        for i in range(n_layers - 1):
            block = nn.Sequential(_xavier_linear(width, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(LEAKY_SLOPE))
            self.body.add_module(f"block{i + 1}", block)
            width = hidden
        self.tail = nn.Sequential(_xavier_linear(width, 1, bias=False), nn.Sigmoid())
        self.autocast_dtype: torch.dtype | None = None  # bf16 precision (GlassModel.set_precision)

    def forward(self, features: Tensor) -> Tensor:
        with self.autocast(features):
            return self.tail(self.body(features)).float()

    def autocast(self, like: Tensor) -> torch.autocast:
        """The precision context of this discriminator's passes (disabled for fp32)."""
        return autocast_to(self.autocast_dtype, like)

    def split_first_block(self) -> tuple[nn.Linear, nn.BatchNorm1d, nn.Sequential] | None:
        """``(first Linear, first BatchNorm, the layers after it)``; None without hidden layers.

        The fast GAS loop runs the first Linear on the moving rows only (``glass_tune.model.gas``).
        """
        blocks = list(self.body.children())
        if not blocks:
            return None
        linear, norm, *after = blocks[0].children()
        return linear, norm, nn.Sequential(*after, *blocks[1:], self.tail)
