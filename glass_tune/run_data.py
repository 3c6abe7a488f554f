"""From a config to the datasets of one run: resolve defaults, then build train/validation sets.

Resolution happens once, in the driver, so the resolved config (absolute paths, the category, the
concrete ``svd``) is what gets written next to every output and what a Ray trial receives.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from glass_tune.config import GlassConfig
from glass_tune.data import (
    LocalAnomalySynthesizer,
    TestDataset,
    TrainDataset,
    auto_svd,
    default_synthetic_root,
    list_categories,
    make_texture_source,
    scan_category,
)
from glass_tune.errors import DataError


@dataclass
class RunData:
    """The datasets a run trains and selects on; ``test`` is held out from selection (None: none)."""

    category: str
    train: TrainDataset
    train_normal: Dataset
    val: Dataset
    test: Dataset | None
    val_source: str


def resolve_data_root(config: GlassConfig) -> Path:
    """The configured root, or the built-in synthetic dataset (generated once into the cache)."""
    if config.data_root is None:
        return default_synthetic_root()
    root = Path(config.data_root).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"{root}: data root not found (expected a folder with <category>/train/good)")
    return root


def resolve_category(config: GlassConfig, root: Path) -> str:
    """The configured category, or the first available one."""
    if config.category is not None:
        return config.category
    available = list_categories(root)
    if not available:
        raise DataError(f"{root}: no category found (expected <category>/train/good)")
    return available[0]


def resolve_run_config(config: GlassConfig) -> GlassConfig:
    """Absolute paths, a concrete category and an integer ``svd``: everything a worker needs."""
    root = resolve_data_root(config)
    category = resolve_category(config, root)
    svd = auto_svd(category) if config.svd == "auto" else config.svd
    texture = config.anomaly_source_path
    if texture is not None:
        texture = str(Path(texture).expanduser().resolve())
    weights = config.backbone_weights
    if weights is not None:
        weights = str(Path(weights).expanduser().resolve())
    return config.replace(
        data_root=str(root), category=category, svd=svd, anomaly_source_path=texture, backbone_weights=weights
    )


def prepare_data(config: GlassConfig, *, feature_grid: tuple[int, int]) -> RunData:
    """Scan the category and build the datasets; the official protocol selects on the test split."""
    assert config.data_root is not None and config.category is not None, "resolve_run_config first"
    split = scan_category(Path(config.data_root), config.category)
    synthesizer = LocalAnomalySynthesizer(
        input_shape=config.input_shape,
        feature_grid=feature_grid,
        textures=make_texture_source(config.anomaly_source_path),
    )
    return RunData(
        category=config.category,
        train=TrainDataset(split.train, input_shape=config.input_shape, synthesizer=synthesizer, seed=config.seed),
        train_normal=TestDataset(split.train, input_shape=config.input_shape),
        val=TestDataset(split.test, input_shape=config.input_shape),
        test=None,
        val_source="test",
    )
