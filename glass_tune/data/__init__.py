"""Data layer: dataset layouts (MVTec, VisA, folder), preprocessing, Local Anomaly Synthesis, datasets, synthetic data."""

from glass_tune.data.datasets import DEFAULT_CACHE_BYTES, BoundedCache, ScoringDataset, TrainDataset
from glass_tune.data.demo import CATEGORIES as SYNTHETIC_CATEGORIES
from glass_tune.data.demo import default_synthetic_root, generate_synthetic
from glass_tune.data.foreground import attach_foreground, foreground_dir, resolve_foreground
from glass_tune.data.images import (
    IMAGE_EXTENSIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    denormalize,
    load_image_tensor,
    load_mask,
    load_rgb,
    normalize,
    open_image,
    preprocess_mask,
    resize_crop,
)
from glass_tune.data.las import LocalAnomalySynthesizer, pool_to_grid
from glass_tune.data.layouts import FORMATS, detect_format, list_categories, resolve_format, scan_category
from glass_tune.data.perlin import perlin_mask, perlin_noise
from glass_tune.data.samples import CategorySplit, Sample
from glass_tune.data.svd_table import auto_svd, choose_svd, known_category
from glass_tune.data.textures import FolderTextures, ProceduralTextures, TextureSource, make_texture_source

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "FORMATS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "SYNTHETIC_CATEGORIES",
    "BoundedCache",
    "CategorySplit",
    "FolderTextures",
    "LocalAnomalySynthesizer",
    "ProceduralTextures",
    "Sample",
    "ScoringDataset",
    "TextureSource",
    "TrainDataset",
    "attach_foreground",
    "auto_svd",
    "choose_svd",
    "default_synthetic_root",
    "denormalize",
    "detect_format",
    "foreground_dir",
    "generate_synthetic",
    "known_category",
    "list_categories",
    "load_image_tensor",
    "load_mask",
    "load_rgb",
    "make_texture_source",
    "normalize",
    "open_image",
    "perlin_mask",
    "perlin_noise",
    "pool_to_grid",
    "preprocess_mask",
    "resize_crop",
    "resolve_foreground",
    "resolve_format",
    "scan_category",
]
