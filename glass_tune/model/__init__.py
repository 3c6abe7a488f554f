"""GLASS in plain torch (no Ray, no CLI, no I/O): one flat public API.

``GlassModel`` ties the building blocks together; the blocks are exported for tests, caches and
experiments that need one stage on its own.
"""

from glass_tune.model.backbone import Backbone, resolve_weights_name
from glass_tune.model.embedding import PatchAggregator, align_patches, mean_map, patch_grid_size, patchify
from glass_tune.model.glass import GlassModel, TrainingLosses
from glass_tune.model.heads import Discriminator, Projection
from glass_tune.model.losses import bce_to, correct_side_fractions, focal_loss, hard_example_mask, las_loss
from glass_tune.model.scoring import anomaly_maps, gaussian_blur, gaussian_kernel1d, image_scores
from glass_tune.model.gas import (
    GasResult,
    global_anomaly_synthesis,
    hypersphere_radius,
    project_to_shell,
    push_las_outward,
)

__all__ = [
    "Backbone",
    "Discriminator",
    "GasResult",
    "GlassModel",
    "PatchAggregator",
    "Projection",
    "TrainingLosses",
    "align_patches",
    "anomaly_maps",
    "bce_to",
    "correct_side_fractions",
    "focal_loss",
    "gaussian_blur",
    "gaussian_kernel1d",
    "global_anomaly_synthesis",
    "hard_example_mask",
    "hypersphere_radius",
    "image_scores",
    "las_loss",
    "mean_map",
    "patch_grid_size",
    "patchify",
    "project_to_shell",
    "push_las_outward",
    "resolve_weights_name",
]
