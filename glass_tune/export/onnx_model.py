"""ONNX export of a trained GLASS model (``predict --onnx`` runs the file: glass_tune.inference.onnx_scorer).

The graph takes a float32 N x 3 x H x W batch in [0, 1] at the run's input size (ImageNet
normalisation inside) and returns ``score`` (N) and ``anomaly_map`` (N x H x W): backbone, patch
aggregation, adaptor, discriminator, bilinear upsampling and the sigma-4 Gaussian blur, with the
selected epoch's weights.

The training-time aggregation flattens the batch into rows and pools each row with
``adaptive_avg_pool1d``, which ties the traced graph to the example batch size.  :class:`ExportAggregator`
computes the same vectors per image: the unfolded neighbourhoods are resampled as channels of one
image, and each adaptive average pool (fixed input and output lengths) is a constant averaging matrix.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from glass_tune import __version__
from glass_tune.config.schema import GlassConfig
from glass_tune.data import IMAGENET_MEAN, IMAGENET_STD
from glass_tune.inference.model_source import locate_checkpoint, read_checkpoint
from glass_tune.inference.onnx_scorer import OUTPUT_NAMES, THRESHOLDS_METADATA, require_optional
from glass_tune.model import GlassModel
from glass_tune.model.embedding import PatchAggregator, patch_grid_size
from glass_tune.model.scoring import anomaly_maps, image_scores
from glass_tune.training.checkpoint import selected_model
from glass_tune.util.atomic_io import atomic_write_bytes

INPUT_NAME = "images"
OPSET = 18


def adaptive_pool_matrix(in_len: int, out_len: int) -> Tensor:
    """``in_len x out_len`` matrix M with ``x @ M == adaptive_avg_pool1d(x, out_len)`` (PyTorch's windows:
    ``[floor(i*in/out), ceil((i+1)*in/out))``)."""
    matrix = torch.zeros(in_len, out_len, dtype=torch.float64)
    for i in range(out_len):
        start, end = (i * in_len) // out_len, -((-(i + 1) * in_len) // out_len)
        matrix[start:end, i] = 1.0 / (end - start)
    return matrix.float()


class ExportAggregator(nn.Module):
    """:class:`PatchAggregator` with batch-size-free shapes: ``B x L x target_embed_dim`` patch vectors."""

    def __init__(self, aggregator: PatchAggregator, channels: list[int], sizes: list[tuple[int, int]]) -> None:
        super().__init__()
        k, stride = aggregator.patchsize, aggregator.patchstride
        self.patchsize, self.patchstride = k, stride
        self.grids = [(patch_grid_size(h, k, stride), patch_grid_size(w, k, stride)) for h, w in sizes]
        for i, c in enumerate(channels):
            self.register_buffer(f"pool{i}", adaptive_pool_matrix(c * k * k, aggregator.pretrain_embed_dim))
        self.register_buffer(
            "pool_out", adaptive_pool_matrix(len(channels) * aggregator.pretrain_embed_dim, aggregator.target_embed_dim)
        )

    def forward(self, feature_maps: list[Tensor]) -> Tensor:
        ref = self.grids[0]
        per_layer = []
        for i, f in enumerate(feature_maps):
            cols = F.unfold(f, kernel_size=self.patchsize, padding=(self.patchsize - 1) // 2, stride=self.patchstride)
            if self.grids[i] != ref:  # every (channel, offset) slot resampled independently = channels of one image
                cols = F.interpolate(cols.unflatten(2, self.grids[i]), size=ref, mode="bilinear", align_corners=False).flatten(2)
            per_layer.append(cols.transpose(1, 2) @ getattr(self, f"pool{i}"))
        return torch.cat(per_layer, dim=2) @ self.pool_out


class ExportedGlass(nn.Module):
    """[0, 1] images -> (image score, anomaly map), the graph written to ONNX."""

    def __init__(self, model: GlassModel) -> None:
        super().__init__()
        model = model.eval()
        self.backbone = model.backbone
        self.projection = model.projection
        self.discriminator = model.discriminator
        self.input_shape = tuple(model.input_shape)
        with torch.no_grad():
            maps = self.backbone(torch.zeros(1, 3, *self.input_shape))
        self.aggregator = ExportAggregator(model.aggregator, [m.shape[1] for m in maps], [tuple(m.shape[-2:]) for m in maps])
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))

    def forward(self, images: Tensor) -> tuple[Tensor, Tensor]:
        feats = self.aggregator(self.backbone((images - self.mean) / self.std))
        dim = feats.shape[-1]
        patch = self.discriminator(self.projection(feats.reshape(-1, dim)))
        patch_scores = patch.reshape(images.shape[0], *self.aggregator.grids[0])
        return image_scores(patch_scores), anomaly_maps(patch_scores, self.input_shape)


def metadata(config: GlassConfig, *, source: str, epoch: Any, thresholds: dict[str, Any] | None = None) -> dict[str, str]:
    """``metadata_props`` of the file: enough to use it without glass-tune (strings only in ONNX).

    ``thresholds`` (JSON): the image-score and pixel thresholds calibrated on validation and their
    rules; a decision is ``score >= image_threshold``, a defect pixel ``map >= pixel_threshold``.
    """
    extra = {} if thresholds is None else {THRESHOLDS_METADATA: json.dumps(thresholds, sort_keys=True)}
    return {
        **extra,
        "input_size": json.dumps(list(config.input_shape)),
        "input_range": "float32 NCHW RGB in [0, 1]; ImageNet normalisation is inside the graph",
        "category": str(config.category),
        "selected_epoch": str(epoch),
        "glass_tune_version": __version__,
        "source_checkpoint": str(source),
        "config": json.dumps(config.to_dict(), sort_keys=True),
    }


def export_onnx(source: str | Path, *, out: str | Path, category: str | None = None) -> Path:
    """Write the selected epoch's model behind ``source`` (run, trial, checkpoint, or an experiment's
    exported trial: see ``glass_tune.inference.model_source``) to ``out``."""
    onnx = require_optional("onnx")
    require_optional("onnxscript")  # torch's dynamo exporter needs it

    location = locate_checkpoint(source, category=category)
    ckpt = read_checkpoint(location)
    module = ExportedGlass(selected_model(ckpt, source=str(location))).eval()
    example = torch.rand(2, 3, *module.input_shape)
    with warnings.catch_warnings(), _quiet_exporter():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            module,
            (example,),
            input_names=[INPUT_NAME],
            output_names=list(OUTPUT_NAMES),
            dynamic_shapes={"images": {0: torch.export.Dim("batch")}},
            opset_version=OPSET,
            dynamo=True,
            verbose=False,
        )
    proto = program.model_proto
    selected = (ckpt.best or {}).get("epoch", ckpt.epoch)
    props = metadata(ckpt.config, source=str(location), epoch=selected, thresholds=ckpt.thresholds)
    onnx.helper.set_model_props(proto, props)
    onnx.checker.check_model(proto)
    target = Path(out)
    atomic_write_bytes(target, proto.SerializeToString())
    return target


class _quiet_exporter:
    """The dynamo exporter prints progress lines and logs at INFO; a CLI command should not."""

    def __enter__(self) -> None:
        self._level = logging.getLogger("torch.onnx").level
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("torch.onnx").setLevel(self._level)
