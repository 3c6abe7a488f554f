"""GAS and the hypersphere shells (docs/algorithm.md §2, §3.2) on small random features."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from glass_tune.model import (
    Discriminator,
    global_anomaly_synthesis,
    hypersphere_radius,
    project_to_shell,
    push_las_outward,
)
from glass_tune.model.gas import GAS_LOOPS, MANIFOLD_SHELL

DIM = 16
ROWS = 64
REL_TOL = 1e-5  # float32 norms of the projected offsets


def _discriminator() -> Discriminator:
    torch.manual_seed(1)
    return Discriminator(DIM, n_layers=2, hidden=8).train()


def _features() -> torch.Tensor:
    torch.manual_seed(2)
    return torch.randn(ROWS, DIM)


def _norms(x: torch.Tensor, anchor: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(x - anchor, dim=1)


def _gas(u: torch.Tensor, **kwargs: object):
    args = {"step": 5, "mining": True, "noise_std": 0.015, "anchor": u, "r_min": 0.5, "r_max": 1.0} | kwargs
    return global_anomaly_synthesis(_discriminator(), u, **args)


def _in_shell(norms: torch.Tensor, lo: float, hi: float) -> bool:
    return bool(((norms >= lo * (1 - REL_TOL)) & (norms <= hi * (1 + REL_TOL))).all())


def test_project_to_shell_clamps_both_ways_and_keeps_direction() -> None:
    anchor = _features()
    direction = F.normalize(torch.randn(ROWS, DIM), dim=1)
    lengths = torch.linspace(0.01, 5.0, ROWS).unsqueeze(1)
    out = project_to_shell(anchor + lengths * direction, anchor, 0.5, 1.0)
    norms = _norms(out, anchor)
    expected = lengths.squeeze(1).clamp(0.5, 1.0)
    torch.testing.assert_close(norms, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(F.normalize(out - anchor, dim=1), direction, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("noise_std", [1.0, 1e-3])  # ||noise|| ~ 4 (above the shell) and ~ 0.004 (below)
def test_manifold_gas_ends_inside_its_shell_around_each_sample(noise_std: float) -> None:
    u = _features()
    start = _norms(_gas(u, step=0, noise_std=noise_std).features, u)
    lo, hi = MANIFOLD_SHELL
    assert (start > hi).all() or (start < lo).all()  # every row needs the clamp
    result = _gas(u, step=5, noise_std=noise_std)  # projection after ascent step 5 is the last op
    assert _in_shell(_norms(result.features, u), *MANIFOLD_SHELL)


@pytest.mark.parametrize("noise_std", [30.0, 1e-3])  # ||noise|| ~ 120 (beyond 2 r_t) and ~ 0.004 (inside r_t)
def test_hypersphere_gas_ends_inside_r_t_shell_around_the_center(noise_std: float) -> None:
    torch.manual_seed(4)
    center = torch.randn(1, DIM).expand(ROWS, DIM)
    u = center + 0.01 * torch.randn(ROWS, DIM)  # a tight normal cluster
    las_normal = center + 5.0 * torch.randn(ROWS, DIM)  # wider LAS features at mask-0 positions
    r_t = hypersphere_radius(u, las_normal, torch.ones(ROWS, dtype=torch.bool), center, 0.75)
    start = _norms(_gas(u, step=0, noise_std=noise_std, anchor=center).features, center)
    assert (start > 2 * r_t).all() or (start < r_t).all()  # every row needs the clamp
    result = _gas(u, step=10, noise_std=noise_std, anchor=center, r_min=r_t, r_max=2 * r_t)
    assert _in_shell(_norms(result.features, center), float(r_t), float(2 * r_t))


def test_las_shell_pushes_only_anomalous_rows_to_2r_4r() -> None:
    torch.manual_seed(3)
    fake = torch.randn(ROWS, DIM) * torch.linspace(0.01, 10.0, ROWS).unsqueeze(1)  # inside, in and beyond
    center = torch.zeros(ROWS, DIM)
    anomalous = torch.arange(ROWS) % 2 == 0
    r_t = torch.tensor(1.5)
    out = push_las_outward(fake, anomalous, center, r_t)
    assert _in_shell(_norms(out[anomalous], center[anomalous]), 3.0, 6.0)
    assert torch.equal(out[~anomalous], fake[~anomalous])
    assert (_norms(fake[anomalous], 0) < 3.0).any() and (_norms(fake[anomalous], 0) > 6.0).any()


def test_r_t_is_the_detached_quantile_of_normal_distances() -> None:
    true = torch.randn(6, DIM, requires_grad=True)
    fake = torch.randn(6, DIM, requires_grad=True)
    center = torch.randn(6, DIM)
    normal = torch.tensor([True, False, True, True, False, False])
    r_t = hypersphere_radius(true * 2, fake * 2, normal, center, 0.75)
    assert not r_t.requires_grad and r_t.grad_fn is None
    with torch.no_grad():
        dists = torch.cat([_norms(fake[normal] * 2, center[normal]), _norms(true * 2, center)])
    torch.testing.assert_close(r_t, torch.quantile(dists, 0.75))


def test_ascent_raises_the_label_one_bce() -> None:
    u = _features()
    wide = {"r_min": 0.0, "r_max": math.inf}
    start = _gas(u, step=0, **wide).gaus_scores  # same discriminator and noise: _gas reseeds
    end = _gas(u, step=20, **wide).gaus_scores
    ones = torch.ones_like(start)
    assert F.binary_cross_entropy(end, ones) > F.binary_cross_entropy(start, ones)


def _count_calls(module: torch.nn.Module) -> list[int]:
    calls: list[int] = []
    module.register_forward_hook(lambda *_: calls.append(1))
    return calls


def test_mining_off_returns_u_plus_noise_after_one_pass() -> None:
    u = _features()
    torch.manual_seed(0)
    expected = u + 0.015 * torch.randn_like(u)
    disc = _discriminator()
    calls = _count_calls(disc)
    torch.manual_seed(0)
    result = global_anomaly_synthesis(disc, u, step=20, mining=False, noise_std=0.015, anchor=u, r_min=0.5, r_max=1.0)
    assert torch.equal(result.features, expected)
    assert len(calls) == 1


@pytest.mark.parametrize("loop", GAS_LOOPS)
@pytest.mark.parametrize("step", [0, 3, 7])
def test_short_loops_make_step_plus_one_discriminator_passes(step: int, loop: str) -> None:
    u = _features()
    disc = _discriminator()
    norm = disc.body.block1[1]
    calls = _count_calls(norm)  # the fast loop skips the module call but never the BatchNorm
    result = global_anomaly_synthesis(disc, u, step=step, mining=True, noise_std=0.015, anchor=u, r_min=0.5, r_max=1.0, loop=loop)
    assert len(calls) == step + 1 and int(norm.num_batches_tracked) == step + 1
    assert result.features.shape == u.shape and torch.isfinite(result.gaus_scores).all()


def _spec_reference(disc: Discriminator, u: torch.Tensor, step: int) -> torch.Tensor:
    """Spec §2.2 transcribed literally (in-place update under no_grad), manifold shell; returns L_gas."""
    g = u + 0.015 * torch.randn_like(u)
    for t in range(step + 1):
        s = disc(torch.cat([u, g]))[len(u) :]
        loss = F.binary_cross_entropy(s, torch.ones_like(s))
        if t == step:
            return loss
        grad = torch.autograd.grad(loss, [g])[0]
        with torch.no_grad():
            g.add_(0.001 * grad / (grad.norm(dim=1, keepdim=True) + 1e-10))
        if (t + 1) % 5 == 0:
            h = g - u
            norm = h.norm(dim=1, keepdim=True)
            g = u + h * norm.clamp(0.5, 1.0) / (norm + 1e-10)
    raise AssertionError("unreachable")


def test_matches_a_literal_transcription_of_the_spec_including_gradients() -> None:
    base = _features()
    grads = []
    losses = []
    for run in ("ours", "spec"):
        u = base.clone().requires_grad_(True)
        adapted = u * 1.0  # a non-leaf, like the adaptor output
        disc = _discriminator()
        torch.manual_seed(5)
        if run == "ours":
            s = global_anomaly_synthesis(
                disc, adapted, step=12, mining=True, noise_std=0.015, anchor=adapted, r_min=0.5, r_max=1.0
            ).gaus_scores
            loss = F.binary_cross_entropy(s, torch.ones_like(s))
        else:
            loss = _spec_reference(disc, adapted, 12)
        loss.backward()
        losses.append(loss.detach())
        grads.append(u.grad.clone())
    torch.testing.assert_close(losses[0], losses[1], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)
    assert grads[0].abs().sum() > 0  # the GAS loss reaches the adaptor output


# --- fast loop == reference loop ---------------------------------------------------------------


def _train_heads(
    loop: str, *, svd: int, layers: int, iterations: int = 3, rows: int = 96, dim: int = 24, optimizer: type = torch.optim.AdamW
):
    """A few optimiser steps of adaptor + discriminator on GAS + normal BCE; everything a step leaves behind."""
    torch.manual_seed(3)
    adaptor = torch.nn.Linear(dim, dim)
    disc = Discriminator(dim, n_layers=layers, hidden=16).train()
    opt = optimizer([*adaptor.parameters(), *disc.parameters()], lr=1e-2)
    inputs = torch.randn(iterations, rows, dim)
    torch.manual_seed(4)
    record: dict[str, list[torch.Tensor]] = {"loss": [], "grads": [], "buffers": [], "features": []}
    for x in inputs:
        u = adaptor(x)
        anchor, r_min, r_max = (u, *MANIFOLD_SHELL) if svd == 0 else (u.mean(0, keepdim=True).detach(), 0.1, 0.2)
        gas = global_anomaly_synthesis(
            disc, u, step=7, mining=True, noise_std=0.05, anchor=anchor, r_min=r_min, r_max=r_max, loop=loop
        )
        loss = F.binary_cross_entropy(gas.gaus_scores, torch.ones_like(gas.gaus_scores)) + F.binary_cross_entropy(
            gas.true_scores, torch.zeros_like(gas.true_scores)
        )
        opt.zero_grad()
        loss.backward()
        record["loss"].append(loss.detach())
        record["features"].append(gas.features.detach())
        record["grads"].extend(p.grad.clone() for p in (*adaptor.parameters(), *disc.parameters()))
        record["buffers"].extend(b.clone() for b in disc.buffers())
        opt.step()
    return record


@pytest.mark.parametrize(("svd", "layers"), [(0, 2), (1, 2), (0, 3), (0, 1)])
def test_fast_loop_is_bit_identical_to_the_reference_loop(svd: int, layers: int) -> None:
    """Losses, synthetic features, every parameter's gradient and the BatchNorm running statistics
    agree exactly (``torch.equal``) over several optimiser steps, for both shells and for
    discriminators whose later layers are row-wise (2 layers), not row-wise (3) or absent (1)."""
    fast, reference = _train_heads("fast", svd=svd, layers=layers), _train_heads("reference", svd=svd, layers=layers)
    assert bool(reference["buffers"]) == (layers > 1)  # BatchNorm only with hidden layers
    for key in reference:
        assert len(fast[key]) == len(reference[key])
        for a, b in zip(fast[key], reference[key], strict=True):
            assert torch.equal(a, b), key
    assert any(g.abs().sum() > 0 for g in reference["grads"][:2])  # GAS reaches the adaptor


@pytest.mark.parametrize(("svd", "layers"), [(0, 2), (1, 2), (0, 3), (0, 1)])
def test_hidden_loop_matches_the_reference_loop_to_float_rounding(svd: int, layers: int) -> None:
    """The hidden-space loop does the reference's arithmetic in another order (sums of W^T delta taken
    once per projection interval, norms through W W^T), so it agrees to float32 rounding, not bit for
    bit.  Checked over several SGD steps: with AdamW the first Linear's bias gradient, zero in exact
    arithmetic (a BatchNorm follows), is rounding noise that Adam scales up to full-size steps in both
    loops alike, so chained AdamW runs drift apart without either being wrong."""
    hidden = _train_heads("hidden", svd=svd, layers=layers, optimizer=torch.optim.SGD)
    reference = _train_heads("reference", svd=svd, layers=layers, optimizer=torch.optim.SGD)
    for key in reference:
        assert len(hidden[key]) == len(reference[key])
        for a, b in zip(hidden[key], reference[key], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * max(1.0, float(b.abs().max())), msg=key)
    differs = any(not torch.equal(a, b) for a, b in zip(hidden["features"], reference["features"], strict=True))
    assert differs == (layers > 1)  # without a hidden layer there is nothing to track: the fast loop runs


def test_hidden_loop_agrees_at_paper_width_in_one_step() -> None:
    """At the paper's widths (1536 -> 1024) one full GAS call: features, scores and gradients agree."""
    results = []
    for loop in ("hidden", "reference"):
        torch.manual_seed(0)
        disc = Discriminator(1536, n_layers=2, hidden=1024).train()
        u = torch.randn(256, 1536, requires_grad=True)
        gas = global_anomaly_synthesis(disc, u, step=20, mining=True, noise_std=0.015, anchor=u, r_min=0.5, r_max=1.0, loop=loop)
        (gas.gaus_scores.sum() - gas.true_scores.sum()).backward()
        results.append((gas.features.detach(), gas.gaus_scores.detach(), u.grad, disc.body.block1[0].weight.grad))
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5 * max(1.0, float(b.abs().max())))


def test_an_unknown_loop_is_rejected() -> None:
    with pytest.raises(ValueError, match="loop"):
        _gas(_features(), loop="quick")
