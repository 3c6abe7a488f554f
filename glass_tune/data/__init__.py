"""Data layer: MVTec-layout scanning, preprocessing, Local Anomaly Synthesis, datasets, synthetic data."""

from glass_tune.data.categories import auto_svd, known_category
from glass_tune.data.datasets import TestDataset, TrainDataset
from glass_tune.data.images import (
    IMAGE_EXTENSIONS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    denormalize,
    load_image_tensor,
    load_mask,
    load_rgb,
    normalize,
    preprocess_mask,
    resize_crop,
)
from glass_tune.data.mvtec import CategorySplit, Sample, list_categories, scan_category
from glass_tune.data.perlin import perlin_mask, perlin_noise
from glass_tune.data.synthesis import LocalAnomalySynthesizer, pool_to_grid
from glass_tune.data.synthetic import CATEGORIES as SYNTHETIC_CATEGORIES
from glass_tune.data.synthetic import default_synthetic_root, generate_synthetic
from glass_tune.data.textures import FolderTextures, ProceduralTextures, TextureSource, make_texture_source

__all__ = [
    "IMAGE_EXTENSIONS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "SYNTHETIC_CATEGORIES",
    "CategorySplit",
    "FolderTextures",
    "LocalAnomalySynthesizer",
    "ProceduralTextures",
    "Sample",
    "TestDataset",
    "TextureSource",
    "TrainDataset",
    "auto_svd",
    "default_synthetic_root",
    "denormalize",
    "generate_synthetic",
    "known_category",
    "list_categories",
    "load_image_tensor",
    "load_mask",
    "load_rgb",
    "make_texture_source",
    "normalize",
    "perlin_mask",
    "perlin_noise",
    "pool_to_grid",
    "preprocess_mask",
    "resize_crop",
    "scan_category",
]
