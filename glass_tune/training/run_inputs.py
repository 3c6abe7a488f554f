"""From a config to the datasets of one run: resolve defaults, then build train/validation/test sets.

Resolution happens once, in the driver, so the resolved config (absolute paths, the detected
layout, the category, the concrete ``svd`` and ``foreground``) is what gets written next to every
output and what a Ray trial receives.

Where validation comes from (``val_source``):

- ``split`` (default): a seeded split of the test set stratified by defect type; the validation
  part selects the epoch (and is what a search optimises), the held-out part is measured once, at
  the selected epoch.
- ``test``: the official protocol, selection on the test set itself; no held-out figures.
- ``dir``: ``val_dir`` is a second root in the same layout holding the category's test part;
  the whole official test set is held out.
- ``synthetic``: a share (``synthetic_val_ratio``) of the good training images is held out, never
  trained on, and paired with copies carrying synthetic defects unlike LAS
  (:mod:`glass_tune.data.synthetic_validation`); the whole test set, if any, is held out.
- ``auto`` (default): ``split`` when the test set has defective images with masks (and enough
  images for both parts), else ``synthetic``; resolved once (a switch to synthetic is said).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from torch.utils.data import Dataset

from glass_tune.config.schema import GlassConfig
from glass_tune.data import (
    CategorySplit,
    LocalAnomalySynthesizer,
    Sample,
    ScoringDataset,
    TextureSource,
    TrainDataset,
    attach_foreground,
    choose_svd,
    default_synthetic_root,
    foreground_dir,
    known_category,
    list_categories,
    make_texture_source,
    resolve_foreground,
    resolve_format,
    scan_category,
)
from glass_tune.data.splits import split_validation
from glass_tune.data.synthetic_validation import SyntheticValidation, hold_out
from glass_tune.util import notices
from glass_tune.util.errors import ConfigError, DataError

# mask_protocol=auto: how the official code binarises each layout's ground truth (folder: custom data, nearest)
MASK_PROTOCOLS = {"mvtec": "mvtec", "visa": "visa", "folder": "nearest"}


@dataclass
class RunData:
    """The datasets a run trains and selects on; ``test`` is held out from selection (None: none)."""

    train: TrainDataset
    train_normal: Dataset
    val: Dataset
    test: Dataset | None
    val_source: str


@dataclass(frozen=True)
class RunSamples:
    """The samples behind :class:`RunData`: what the data check counts and decodes."""

    split: CategorySplit
    val: list[Sample]
    test: list[Sample] | None
    val_warnings: tuple[str, ...] = ()


def _absolute(path: str | None) -> str | None:
    return None if path is None else str(Path(path).expanduser().resolve())


def resolve_data_root(config: GlassConfig) -> Path:
    """The configured root, or the built-in synthetic dataset (generated once into the cache)."""
    if config.data_root is None:
        return default_synthetic_root()
    root = Path(config.data_root).expanduser().resolve()
    if not root.is_dir():
        raise DataError(f"{root}: data root not found (expected a dataset folder in MVTec, VisA or folder layout)")
    return root


def resolve_category(config: GlassConfig, root: Path, data_format: str) -> str:
    """The configured category, or the first available one."""
    if config.category is not None:
        return config.category
    available = list_categories(root, data_format)
    if not available:
        raise DataError(f"{root}: no category found in this {data_format}-layout dataset")
    return available[0]


def resolve_run_config(config: GlassConfig) -> GlassConfig:
    """Absolute paths, a concrete layout, category, ``svd`` and ``foreground``: everything a worker needs."""
    root = resolve_data_root(config)
    data_format = resolve_format(root, config.data_format)
    category = resolve_category(config, root, data_format)
    if config.val_source == "dir" and config.val_dir is None:
        raise ConfigError("val_source=dir needs val_dir (a folder in the dataset's layout holding the category's test part)")
    val_source = config.val_source
    if val_source == "auto":
        val_source, reason = choose_val_source(scan_category(root, category, data_format, good_only=True).test)
        if val_source == "synthetic":  # split is what auto always chose before: only the change is said
            notices.inform(f"[{category}] val_source={val_source} ({reason})")
    return config.replace(
        val_source=val_source,
        data_root=str(root),
        data_format=data_format,
        category=category,
        svd=_resolve_svd(config, root, data_format, category),
        foreground=_resolve_foreground(config, root, data_format, category),
        mask_protocol=MASK_PROTOCOLS[data_format] if config.mask_protocol == "auto" else config.mask_protocol,
        anomaly_source_path=_absolute(config.anomaly_source_path),
        backbone_weights=_absolute(config.backbone_weights),
        val_dir=_absolute(config.val_dir),
    )


def choose_val_source(test: Sequence[Sample]) -> tuple[str, str]:
    """``auto``: real defects when the split can use them (2+ normal and 2+ defective test images,
    some with masks), else synthetic defects; with the reason in words."""
    normal = sum(s.label == 0 for s in test)
    defective = [s for s in test if s.label == 1]
    with_masks = sum(s.mask_path is not None for s in defective)
    if normal >= 2 and len(defective) >= 2 and with_masks:
        return "split", f"{len(defective)} defective test images, {with_masks} with masks: a split of the test set"
    found = f"{len(defective)} defective test images ({with_masks} with masks) and {normal} normal ones"
    return "synthetic", f"{found}: too few for a split, so synthetic defects on held-out training images"


def _resolve_svd(config: GlassConfig, root: Path, data_format: str, category: str) -> int:
    """``auto``: the official per-class table, else the official judge on the training images (said once)."""
    if config.svd != "auto":
        return int(config.svd)
    train = scan_category(root, category, data_format, good_only=True).train
    svd, reason = choose_svd(category, [s.path for s in train])
    notices.inform(f"[{category}] svd={svd} ({reason})")
    return svd


def _resolve_foreground(config: GlassConfig, root: Path, data_format: str, category: str) -> bool:
    """``auto`` uses the masks when present; the official MVTec/VisA runs always do, so say when they are missing."""
    use = resolve_foreground(config.foreground, root, category)
    if config.foreground == "auto" and not use and data_format in ("mvtec", "visa") and known_category(category):
        notices.warn(
            f"[{category}] no foreground masks ({foreground_dir(root, category)} missing): LAS may paint anomalies "
            "on the background, unlike the official MVTec/VisA runs (foreground=false silences this)"
        )
    return use


def run_samples(config: GlassConfig) -> RunSamples:
    """Scan the category and divide its test images into validation and held-out test per ``val_source``."""
    assert config.data_root is not None and config.category is not None, "resolve_run_config first"
    assert config.val_source != "auto", "resolve_run_config first"
    synthetic = config.val_source == "synthetic"
    split = scan_category(config.data_root, config.category, config.data_format, good_only=synthetic)
    if config.foreground is True:
        split = dataclasses.replace(split, train=attach_foreground(split.train, config.data_root, config.category))
    if synthetic:
        held, kept = hold_out(split.train, ratio=config.synthetic_val_ratio, seed=config.seed, where=split.root)
        return RunSamples(dataclasses.replace(split, train=kept), val=held, test=split.test or None)
    if config.val_source == "test":
        return RunSamples(split, val=split.test, test=None)
    if config.val_source == "dir":
        assert config.val_dir is not None, "resolve_run_config first"
        if not Path(config.val_dir).is_dir():
            raise DataError(f"{config.val_dir}: validation folder (val_dir) not found")
        val = scan_category(config.val_dir, config.category, config.data_format, with_train=False)
        return RunSamples(split, val=val.test, test=split.test, val_warnings=val.warnings)
    val, test = split_validation(split.test, ratio=config.val_ratio, seed=config.seed, where=split.root)
    return RunSamples(split, val=val, test=test)


def evaluation_dataset(config: GlassConfig, samples: Sequence[Sample]) -> ScoringDataset:
    """Images scored as a run scores its validation and held-out sets: its input size and mask protocol.

    Everything that evaluates a trained model (the run itself, the report) builds its set here, so
    the ground truth is binarised the same way (``mask_protocol``: mvtec/visa/nearest) everywhere.
    """
    return ScoringDataset(samples, input_shape=config.input_shape, mask_protocol=config.mask_protocol)


def validation_dataset(config: GlassConfig, samples: RunSamples, *, out_dir: Path | None = None) -> Dataset:
    """The validation set of ``samples``; a synthetic one is written to ``out_dir`` when given."""
    if config.val_source == "synthetic":
        return SyntheticValidation(samples.val, input_shape=config.input_shape, seed=config.seed, out_dir=out_dir)
    return evaluation_dataset(config, samples.val)


def prepare_data(config: GlassConfig, *, feature_grid: tuple[int, int], val_dir: Path | None = None) -> RunData:
    """The datasets of a resolved config; synthesis stays inside the foreground when one is used.

    ``val_dir``: where a synthetic validation set is written for the user to look at (None: nowhere).
    """
    samples = run_samples(config)
    synthesizer = LocalAnomalySynthesizer(
        input_shape=config.input_shape,
        feature_grid=feature_grid,
        textures=_texture_source(config),
    )
    train = samples.split.train
    return RunData(
        train=TrainDataset(train, input_shape=config.input_shape, synthesizer=synthesizer, seed=config.seed),
        train_normal=ScoringDataset(train, input_shape=config.input_shape),
        val=validation_dataset(config, samples, out_dir=val_dir),
        test=None if samples.test is None else evaluation_dataset(config, samples.test),
        val_source=config.val_source,
    )


def texture_notice(config: GlassConfig) -> None:
    """Say once that LAS paints procedural textures; drivers call it, so a search says it once, not per trial."""
    if config.anomaly_source_path is None:
        notices.warn(
            "LAS textures are procedural (no anomaly_source_path); the paper draws them from DTD "
            "(set anomaly_source_path to a DTD images/ folder for official-like results)"
        )


def _texture_source(config: GlassConfig) -> TextureSource:
    texture_notice(config)
    return make_texture_source(config.anomaly_source_path)
