"""Feature-space anomaly synthesis: GAS (docs/algorithm.md §2) and the hypersphere shell for LAS features (§3.2).

GAS starts from Gaussian-perturbed normal features and takes ``step`` normalized gradient-*ascent*
steps on BCE(D(g), 1), i.e. it moves g towards what the discriminator currently calls normal, which
makes the synthetic anomalies harder (maintainer, GLASS issue #49).  Every 5 steps a truncated
projection keeps g inside a shell around an anchor:

* ``svd=0`` (manifold): anchor = the sample's own normal feature, shell [0.5, 1.0];
* ``svd=1`` (hypersphere): anchor = the per-position center, shell [r_t, 2 r_t].

Three loops compute the same thing.  ``reference`` is the plain loop (one discriminator pass per
step over ``[u; g]``), as in the official code.  ``fast`` uses that only the synthetic rows move
during the ascent: the normal rows' first-layer activations are computed once, each ascent pass runs
the first Linear on the synthetic rows only and BatchNorm over both halves (the same batch
statistics and running-stat updates), and layers after the first BatchNorm see only the synthetic
rows when they are row-wise; it is bit-identical to ``reference``.  ``hidden`` (the default) also
uses that the first layer is linear: the ascent is tracked in that layer's output space, where one
step costs a hidden x hidden product (the Gram matrix W W^T) instead of a Linear forward and
backward (two hidden x dim products), and the steps reach g once per projection interval.  Same
arithmetic in another order: it agrees with ``reference`` to float32 rounding.  It runs the
``fast`` loop when the discriminator has no hidden layer.  In all three the last pass, whose scores
carry the losses' gradient into the heads and the adaptor, is the plain full pass, so parameter
gradients are computed as in the reference.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glass_tune.config.schema import GAS_LOOP_CHOICES as GAS_LOOPS  # one list of loop names: the config's
from glass_tune.model.heads import Discriminator

ASCENT_STEP_SIZE = 1e-3  # hard-coded in both implementations (not a CLI option)
PROJECTION_INTERVAL = 5
MANIFOLD_SHELL = (0.5, 1.0)
NORM_EPS = 1e-10

Radius = float | Tensor


def project_to_shell(features: Tensor, anchor: Tensor, r_min: Radius, r_max: Radius) -> Tensor:
    """Rescale ``features - anchor`` row-wise so its L2 norm lies in ``[r_min, r_max]``.

    Differentiable like the official code: gradients flow through the features, the anchor and
    the norm; radii passed as detached tensors (r_t) are constants.
    """
    offset = features - anchor
    return anchor + offset * shell_factor(offset, r_min, r_max)


def shell_factor(offset: Tensor, r_min: Radius, r_max: Radius) -> Tensor:
    """The row-wise factor that brings ``offset``'s L2 norm into ``[r_min, r_max]`` (N x 1)."""
    norm = torch.linalg.vector_norm(offset, dim=1, keepdim=True)
    lo, hi = (torch.as_tensor(r, dtype=norm.dtype, device=norm.device) for r in (r_min, r_max))
    return torch.clamp(norm, lo, hi) / (norm + NORM_EPS)


def hypersphere_radius(
    true_feats: Tensor, fake_feats: Tensor, normal_mask: Tensor, center_rows: Tensor, quantile: float
) -> Tensor:
    """r_t: the ``quantile`` of distances to the per-position center (docs/algorithm.md §2.3), detached.

    The distances are those of all normal features plus the LAS features at positions the mask
    marks normal.  The official code wraps r_t in a new tensor, so no gradient flows through the
    shell bounds; anomalib keeps it attached (a deviation, §10.1.6).
    """
    with torch.no_grad():
        points = torch.cat([fake_feats[normal_mask], true_feats])
        centers = torch.cat([center_rows[normal_mask], center_rows])
        return torch.quantile(torch.linalg.vector_norm(points - centers, dim=1), quantile)


def push_las_outward(fake_feats: Tensor, anomalous_mask: Tensor, center_rows: Tensor, r_t: Tensor) -> Tensor:
    """Hypersphere mode only: LAS features at anomalous positions go to the shell [2 r_t, 4 r_t]."""
    projected = project_to_shell(fake_feats, center_rows, 2 * r_t, 4 * r_t)
    return torch.where(anomalous_mask.unsqueeze(1), projected, fake_feats)


@dataclass
class GasResult:
    """Final synthetic features and the scores of the last discriminator pass over ``[u; g]``."""

    features: Tensor
    true_scores: Tensor
    gaus_scores: Tensor


def _ascent_step(gaus_loss: Tensor, gaus_feats: Tensor) -> Tensor:
    """One normalized step up the label-1 BCE; no gradient is accumulated into any parameter."""
    (grad,) = torch.autograd.grad(gaus_loss, [gaus_feats])
    grad_normalized = grad / (torch.linalg.vector_norm(grad, dim=1, keepdim=True) + NORM_EPS)
    return gaus_feats + ASCENT_STEP_SIZE * grad_normalized


def global_anomaly_synthesis(
    discriminator: Discriminator,
    true_feats: Tensor,
    *,
    step: int,
    mining: bool,
    noise_std: float,
    anchor: Tensor,
    r_min: Radius,
    r_max: Radius,
    loop: str = "hidden",
) -> GasResult:
    """GAS (docs/algorithm.md §2.1-2.2, 2.5): ``step + 1`` discriminator passes, ``step`` ascent steps.

    ``mining=False`` stops after the first pass, so g = u + noise.  ``step < 5`` simply never
    projects (the official code crashes there on an unassigned logging variable).  The synthetic
    features stay connected to ``true_feats``, so the final GAS loss also trains the adaptor.
    Gradient mode is forced on because the ascent needs d loss / d g even under ``no_grad``.
    ``loop`` picks the implementation (module docstring): the same numbers, ``hidden`` to float rounding.
    """
    if loop not in GAS_LOOPS:
        raise ValueError(f"loop={loop!r}: expected one of {', '.join(GAS_LOOPS)}")
    with torch.enable_grad():
        gaus_feats = true_feats + noise_std * torch.randn_like(true_feats)
        if not gaus_feats.requires_grad:  # adaptor-free and frozen: the ascent still needs a gradient
            gaus_feats.requires_grad_(True)
        parts = discriminator.split_first_block()
        if loop == "hidden" and mining and step and parts is not None:
            gaus_feats = _hidden_ascent(parts, true_feats, gaus_feats, discriminator=discriminator, step=step,
                                        anchor=anchor, r_min=r_min, r_max=r_max)  # fmt: skip
            step = 0  # only the final full pass is left
        ascent_scores = _AscentScores(discriminator, true_feats) if loop != "reference" and mining and step else None
        for t in range(step + 1):
            if t == step or not mining:
                scores = discriminator(torch.cat([true_feats, gaus_feats])).squeeze(1)
                true_scores, gaus_scores = scores[: len(true_feats)], scores[len(true_feats) :]
                break
            if ascent_scores is not None:
                gaus_scores = ascent_scores(gaus_feats)
            else:
                gaus_scores = discriminator(torch.cat([true_feats, gaus_feats])).squeeze(1)[len(true_feats) :]
            gaus_loss = F.binary_cross_entropy(gaus_scores, torch.ones_like(gaus_scores))
            gaus_feats = _ascent_step(gaus_loss, gaus_feats)
            if (t + 1) % PROJECTION_INTERVAL == 0:
                gaus_feats = project_to_shell(gaus_feats, anchor, r_min, r_max)
    return GasResult(gaus_feats, true_scores, gaus_scores)


def _is_rowwise(layers: nn.Module) -> bool:
    """Whether ``layers`` treat each row alone (no BatchNorm mixing rows through batch statistics)."""
    return not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in layers.modules())


class _AscentScores:
    """The synthetic rows' scores of a discriminator pass over ``[u; g]``, without redoing u's work.

    The normal rows' first-layer output is computed once (no graph: the ascent differentiates with
    respect to g only).  Each call runs the first Linear on g, the first BatchNorm over both halves
    (module's batch statistics and running-stat update, computed over the same concatenated tensor
    as the plain pass) and the remaining layers on g alone when they are row-wise (no further
    BatchNorm), else on both halves.  A discriminator without hidden layers is row-wise throughout.
    """

    def __init__(self, discriminator: Discriminator, true_feats: Tensor) -> None:
        self.discriminator = discriminator
        self.n_true = len(true_feats)
        self.parts = discriminator.split_first_block()
        if self.parts is not None:
            linear, _, after = self.parts
            self.after_rowwise = _is_rowwise(after)
            with torch.no_grad(), discriminator.autocast(true_feats):
                self.true_first = linear(true_feats)

    def __call__(self, gaus_feats: Tensor) -> Tensor:
        if self.parts is None:
            return self.discriminator(gaus_feats).squeeze(1)
        linear, norm, after = self.parts
        with self.discriminator.autocast(gaus_feats):
            hidden = norm(torch.cat([self.true_first, linear(gaus_feats)]))
            if self.after_rowwise:
                return after(hidden[self.n_true :]).squeeze(1).float()
            return after(hidden).squeeze(1)[self.n_true :].float()


def _hidden_ascent(
    parts: tuple[nn.Linear, nn.BatchNorm1d, nn.Sequential],
    true_feats: Tensor,
    gaus_feats: Tensor,
    *,
    discriminator: Discriminator,
    step: int,
    anchor: Tensor,
    r_min: Radius,
    r_max: Radius,
) -> Tensor:
    """The ``step`` ascent steps tracked in the first Linear's output space (module docstring).

    With z = W g + b, the loss gradient is W^T delta (delta = d loss / d z), its norm
    sqrt(delta . (W W^T) delta) and its effect on z is (W W^T) delta, so a step costs one
    hidden x hidden product instead of the two hidden x dim products of a Linear forward and
    backward.  The steps are summed in hidden space and applied to g (which keeps its graph to the
    adaptor) once per projection interval; a projection scales g - anchor row-wise, so z follows as
    anchor_z + factor (z - anchor_z).  Returns g after the ascent, before the final full pass.
    """
    linear, norm, after = parts
    rowwise = _is_rowwise(after)
    n_true = len(true_feats)
    with torch.no_grad():
        weight, bias = linear.weight.float(), linear.bias.float()
        gram = weight @ weight.T
        true_z = F.linear(true_feats.float(), weight, bias)
        anchor_z = true_z if anchor is true_feats else F.linear(anchor.float(), weight, bias)
        z = F.linear(gaus_feats.float(), weight, bias)
        pending = torch.zeros_like(z)
    for t in range(step):
        leaf = z.detach().requires_grad_(True)
        with discriminator.autocast(leaf):
            hidden = norm(torch.cat([true_z, leaf]))
            scores = after(hidden[n_true:]) if rowwise else after(hidden)[n_true:]
        scores = scores.squeeze(1).float()
        (delta,) = torch.autograd.grad(F.binary_cross_entropy(scores, torch.ones_like(scores)), [leaf])
        with torch.no_grad():
            moved = delta @ gram
            grad_norm = torch.sqrt(torch.clamp((moved * delta).sum(dim=1, keepdim=True), min=0.0))
            scale = ASCENT_STEP_SIZE / (grad_norm + NORM_EPS)
            z = z + scale * moved
            pending = pending + scale * delta
        projects = (t + 1) % PROJECTION_INTERVAL == 0
        if projects or t == step - 1:
            with torch.no_grad():
                ascent = pending @ weight  # a constant, as the reference's normalized gradients are
                pending = torch.zeros_like(pending)
            gaus_feats = gaus_feats + ascent
        if projects:
            offset = gaus_feats - anchor
            factor = shell_factor(offset, r_min, r_max)
            gaus_feats = anchor + offset * factor
            z = anchor_z + factor.detach() * (z - anchor_z)
    return gaus_feats
