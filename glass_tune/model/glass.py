"""GLASS as a plain ``nn.Module``: embedding, adaptor, discriminator, training losses and inference.

No optimizers, data loading or I/O live here (the training layer owns those, as in anomalib's split).
All images passed in must already be ImageNet-normalised, including those given to
``compute_center``: anomalib computes its center from un-normalised images (docs/algorithm.md §10.1.5), which
corrupts r_t and both shells in ``svd=1``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from glass_tune.config.schema import PRECISION_CHOICES, GlassConfig, fields_in
from glass_tune.model.backbone import Backbone, check_weights
from glass_tune.model.embedding import Grid, PatchAggregator, patch_grid_size
from glass_tune.model.gas import (
    MANIFOLD_SHELL,
    global_anomaly_synthesis,
    hypersphere_radius,
    push_las_outward,
)
from glass_tune.model.heads import Discriminator, Projection
from glass_tune.model.losses import bce_to, correct_side_fractions, las_loss
from glass_tune.model.scoring import anomaly_maps, image_scores
from glass_tune.util.errors import ConfigError

# The config keys GlassModel takes as keywords: the fields declared with glass_model=True.
MODEL_FIELDS = fields_in(group="glass_model")


@dataclass
class TrainingLosses:
    """One iteration's losses (``loss`` carries the graph) and logging statistics (plain floats)."""

    loss: Tensor
    true_loss: Tensor
    gaus_loss: Tensor
    bce_loss: Tensor
    focal_loss: Tensor
    r_t: float  # nan when no center was given
    p_true: float
    p_fake: float


class GlassModel(nn.Module):
    """Backbone -> patch aggregation -> adaptor -> discriminator, with GAS/LAS training losses."""

    def __init__(
        self,
        *,
        input_shape: tuple[int, int],
        backbone: str,
        pretrain_embed_dim: int,
        target_embed_dim: int,
        patchsize: int,
        patchstride: int,
        pre_trained: bool,
        backbone_weights: str | None,
        layers: Sequence[str],
        pre_projection: int,
        discriminator_layers: int,
        discriminator_hidden: int,
        step: int,
        svd: int,
        gaussian_noise_std: float,
        radius_quantile: float,
        focal_loss_quantile_threshold: float,
        mining: bool,
        gas_loop: str = "hidden",
        precision: str = "fp32",
    ) -> None:
        super().__init__()
        if svd not in (0, 1) or isinstance(svd, bool):
            raise ConfigError(f"svd={svd!r}: GlassModel needs 0 or 1 (resolve 'auto' before building the model)")
        self.input_shape = tuple(input_shape)
        self.step = step
        self.svd = svd
        self.gaussian_noise_std = gaussian_noise_std
        self.radius_quantile = radius_quantile
        self.focal_loss_quantile_threshold = focal_loss_quantile_threshold
        self.mining = mining
        self.gas_loop = gas_loop
        self.backbone = Backbone(
            backbone, layers, input_shape=self.input_shape, pretrained=pre_trained, weights_path=backbone_weights
        )
        self.aggregator = PatchAggregator(
            patchsize=patchsize,
            patchstride=patchstride,
            pretrain_embed_dim=pretrain_embed_dim,
            target_embed_dim=target_embed_dim,
        )
        self.projection = Projection(target_embed_dim, pre_projection) if pre_projection > 0 else nn.Identity()
        self.discriminator = Discriminator(target_embed_dim, discriminator_layers, discriminator_hidden)
        self.set_precision(precision)
        height, width = self.backbone.feature_sizes[0]
        self._grid = (patch_grid_size(height, patchsize, patchstride), patch_grid_size(width, patchsize, patchstride))
        if min(self._grid) < 1:  # an even patch on a map one cell wide
            raise ConfigError(
                f"patchsize {patchsize}: layer {layers[0]}'s {height}x{width} maps at input_shape {list(input_shape)} "
                "hold no patch; use an odd patchsize or a larger input_shape"
            )

    @classmethod
    def from_config(cls, cfg: GlassConfig) -> GlassModel:
        """Build from a validated config; ``cfg.svd`` must already be resolved to 0 or 1."""
        if cfg.svd == "auto":
            raise ConfigError("svd='auto' must be resolved to 0 or 1 before building the model")
        return cls(**{name: getattr(cfg, name) for name in MODEL_FIELDS})

    @property
    def feature_grid(self) -> Grid:
        """Patch grid ``(h, w)`` of the first layer at ``input_shape`` (e.g. (36, 36) for WRN50 at 288)."""
        return self._grid

    @property
    def backbone_trainable(self) -> bool:
        return self.backbone.trainable

    def set_precision(self, precision: str) -> None:
        """``bf16`` runs the backbone and discriminator forwards under autocast; ``fp32``/``tf32`` do not
        (TF32 is a process-wide CUDA matmul switch, see ``glass_tune.util.runtime.apply_precision``).

        Both modules hand float32 back, so the patch aggregation, the GAS ascent and projections,
        the losses and the scores stay float32.
        """
        if precision not in PRECISION_CHOICES:
            raise ConfigError(f"precision={precision!r}: expected one of {', '.join(PRECISION_CHOICES)}")
        dtype = torch.bfloat16 if precision == "bf16" else None
        self.backbone.autocast_dtype = self.discriminator.autocast_dtype = dtype

    def _device(self) -> torch.device:
        return next(self.discriminator.parameters()).device

    # --- features --------------------------------------------------------------------------

    def embed(self, images: Tensor) -> Tensor:
        """``(B*P) x target_embed_dim`` patch features, before the adaptor.

        A frozen backbone runs in eval mode under ``no_grad``, so this is a pure function of the
        image and can be cached; a trainable backbone follows the module's mode and keeps the graph.
        """
        return self.aggregator(self.backbone(images.to(self._device())))[0]

    def adapt(self, features: Tensor) -> Tensor:
        """The feature adaptor (identity when ``pre_projection == 0``)."""
        return self.projection(features)

    @torch.no_grad()
    def compute_center(self, batches: Iterable[Tensor]) -> Tensor:
        """Per-position mean ``P x D`` of ``adapt(embed(x))`` over all samples (docs/algorithm.md §2.4).

        An exact per-sample mean (a float64 sum divided by the sample count), not the official mean
        of batch means.  Images must be ImageNet-normalised like the training images.  A trainable
        backbone follows the module's mode, as in the official code.
        """
        return self.center_from_embeddings(self.embed(images) for images in batches)

    @torch.no_grad()
    def center_from_embeddings(self, batches: Iterable[Tensor]) -> Tensor:
        """``compute_center`` from ``(B*P) x D`` embeddings (e.g. a frozen backbone's cached ones)."""
        patches = self.feature_grid[0] * self.feature_grid[1]
        total: Tensor | None = None
        count = 0
        for embeddings in batches:
            feats = self.adapt(embeddings.to(self._device()))
            batch_sum = feats.reshape(-1, patches, feats.shape[-1]).sum(dim=0, dtype=torch.float64)
            total = batch_sum if total is None else total + batch_sum
            count += len(feats) // patches
        if total is None:
            raise ValueError("compute_center needs at least one batch of images")
        return (total / count).to(feats.dtype)

    # --- training --------------------------------------------------------------------------

    def training_losses(self, images: Tensor, aug_images: Tensor, mask_s: Tensor, center: Tensor | None = None) -> TrainingLosses:
        """Losses of one training iteration (docs/algorithm.md §1.9, §2-4); the caller sets train mode and steps.

        ``images``/``aug_images``: B x 3 x H x W normalised normal and LAS images; ``mask_s``: B x gh x gw
        LAS mask on the feature grid; ``center``: P x D from ``compute_center`` (required for svd=1;
        with svd=0 it is only used to log r_t).
        """
        device = self._device()
        mask_s = mask_s.to(device)
        if tuple(mask_s.shape[-2:]) != self.feature_grid or len(mask_s) != len(images):
            raise ValueError(f"mask_s has shape {tuple(mask_s.shape)}, expected ({len(images)}, *{self.feature_grid})")
        true_embed = self.embed(images)
        fake_embed = self.embed(aug_images)
        return self.training_losses_from_embeddings(true_embed, fake_embed, mask_s, center)

    def training_losses_from_embeddings(
        self, true_embed: Tensor, fake_embed: Tensor, mask_s: Tensor, center: Tensor | None = None
    ) -> TrainingLosses:
        """``training_losses`` after the backbone: lets a frozen-backbone caller reuse cached embeddings."""
        device = self._device()
        batch = len(mask_s)
        mask = mask_s.to(device=device, dtype=true_embed.dtype).reshape(-1)
        if len(mask) != len(true_embed) or len(fake_embed) != len(true_embed):
            raise ValueError(f"{len(true_embed)} normal and {len(fake_embed)} LAS rows for {len(mask)} mask cells")
        if self.svd == 1 and center is None:
            raise ValueError("svd=1 needs the per-position center (compute_center) for the shells")
        true_feats = self.adapt(true_embed.to(device))
        fake_feats = self.adapt(fake_embed.to(device))
        anomalous = mask.bool()

        center_rows = r_t = None
        if center is not None:
            center_rows = self._tile_center(center.to(device), batch)
            r_t = hypersphere_radius(true_feats, fake_feats, ~anomalous, center_rows, self.radius_quantile)
        if self.svd == 1:
            anchor, r_min, r_max = center_rows, r_t, 2 * r_t
            fake_feats = push_las_outward(fake_feats, anomalous, center_rows, r_t)
        else:
            anchor, (r_min, r_max) = true_feats, MANIFOLD_SHELL

        gas = global_anomaly_synthesis(
            self.discriminator,
            true_feats,
            step=self.step,
            mining=self.mining,
            noise_std=self.gaussian_noise_std,
            anchor=anchor,
            r_min=r_min,
            r_max=r_max,
            loop=self.gas_loop,
        )
        true_loss = bce_to(gas.true_scores, 0.0)
        gaus_loss = bce_to(gas.gaus_scores, 1.0)
        fake_scores = self.discriminator(fake_feats).squeeze(1)
        focal = las_loss(fake_scores, mask, self.focal_loss_quantile_threshold)
        bce = true_loss + gaus_loss
        p_true, p_fake = correct_side_fractions(gas.true_scores, gas.gaus_scores, fake_scores.detach(), mask)
        r_t_value = r_t if r_t is not None else torch.tensor(math.nan, device=device)
        stats = torch.stack([r_t_value.float(), p_true.float(), p_fake.float()]).tolist()  # one device sync
        return TrainingLosses(bce + focal, true_loss, gaus_loss, bce, focal, *stats)

    def _tile_center(self, center: Tensor, batch: int) -> Tensor:
        """``P x D`` center -> one row per feature row (``b*P + p``)."""
        patches = self.feature_grid[0] * self.feature_grid[1]
        if center.dim() != 2 or len(center) != patches:
            raise ValueError(f"center has shape {tuple(center.shape)}, expected ({patches}, D)")
        return center.repeat(batch, 1)

    # --- inference -------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """``(image_scores B, anomaly_maps B x H x W)`` for normalised images.

        Switches to eval mode (BatchNorm running statistics) for the call and restores the previous
        mode afterwards, so callers need not manage modes around validation.
        """
        with self._eval_mode():
            return self.predict_embedded(self.embed(images), image_shape=tuple(images.shape[-2:]))

    @torch.no_grad()
    def predict_embedded(self, embeddings: Tensor, *, image_shape: tuple[int, int]) -> tuple[Tensor, Tensor]:
        """``predict`` from ``(B*P) x D`` embeddings (a frozen backbone's cached ones) of ``image_shape`` images."""
        with self._eval_mode():
            patch_scores = self.discriminator(self.adapt(embeddings.to(self._device())))
        patch_scores = patch_scores.reshape(-1, *self.feature_grid)
        return image_scores(patch_scores), anomaly_maps(patch_scores, image_shape)

    @contextmanager
    def _eval_mode(self) -> Iterator[None]:
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)


def check_buildable(configs: Sequence[GlassConfig], *, weights_at_hand: bool) -> None:
    """Build each config's model on the meta device (no memory, nothing loaded, a fraction of a second),
    so a config that cannot build it (an unknown backbone or layer, an input_shape its layers cannot be
    computed at) is one ConfigError before any run starts rather than an error in every trial.

    ``weights_at_hand``: also check, once per backbone and without downloading, that a pre-trained
    backbone's weights are there; only where the runs happen (a driver whose trials run on other
    nodes cannot tell).
    """
    for name, pretrained, path in dict.fromkeys((c.backbone, c.pre_trained, c.backbone_weights) for c in configs):
        check_weights(name, pretrained=pretrained, weights_path=path, at_hand=weights_at_hand)
    for config in configs:
        # the same network with a random init (nothing to load); svd chooses losses, not layers
        with torch.device("meta"):
            GlassModel.from_config(config.replace(pre_trained=False, backbone_weights=None, svd=0))
