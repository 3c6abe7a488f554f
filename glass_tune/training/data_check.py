"""Dataset validation: ``glass-tune check-data``, and the check ``train``/``tune`` run in the driver.

A search that runs for hours must not die at trial 37 on a broken PNG, so before any output folder
is touched every file a run will read is decoded once: training images, test and validation images,
ground-truth masks and foreground masks. That costs one full decode per file (run on a thread pool;
PNG decoding dominates), about what the first epoch spends loading the same files anyway.

Problems (unreadable, empty or truncated files, broken symbolic links, masks of the wrong size,
missing folders) stop a run with one line naming the first file. Warnings (anomalous images without
a mask, non-binary or empty masks, a dataset larger than the image cache) are printed, and the run
goes on.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from glass_tune.config.schema import GlassConfig
from glass_tune.data import (
    DEFAULT_CACHE_BYTES,
    FolderTextures,
    Sample,
    foreground_dir,
    list_categories,
    load_rgb,
    open_image,
    resolve_format,
)
from glass_tune.data.samples import GOOD
from glass_tune.data.synthetic_validation import KINDS
from glass_tune.training.run_inputs import (
    RunSamples,
    choose_val_source,
    resolve_category,
    resolve_data_root,
    resolve_run_config,
    run_samples,
    texture_notice,
)
from glass_tune.util.errors import DataError
from glass_tune.util.logs import get_logger

MAX_LISTED = 20  # problems printed per category; the rest are counted
_VAL_SOURCE_TEXT = {
    "split": "seeded split of the test set (val_ratio {ratio}, seed {seed}); 'test' is held out",
    "test": "the test set itself (official protocol: test used for selection, no held-out figures)",
    "dir": "val_dir {val_dir}; the whole test set is held out",
    "synthetic": "{held} held-out training images (synthetic_val_ratio {synthetic_ratio}, seed {seed}, never trained on) "
    "and a copy of each with a synthetic defect ({kinds}); the whole test set is held out",
}

log = get_logger(__name__)


@dataclass
class FileReport:
    """What decoding one sample (image plus its masks) found."""

    size: tuple[int, int] | None = None
    mask_area: float | None = None  # defect fraction of the ground-truth mask
    problems: list[str] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)  # (kind, message)


@dataclass
class TypeCounts:
    """One table row: images of a defect type per part, and their ground truth."""

    train: int = 0
    val: int = 0
    test: int = 0
    anomalous: int = 0
    with_mask: int = 0
    area_sum: float = 0.0


@dataclass
class CategoryReport:
    """Everything ``check-data`` prints about one category."""

    category: str
    config: GlassConfig
    types: dict[str, TypeCounts] = field(default_factory=dict)
    sizes: Counter[tuple[int, int]] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    val_reason: str = ""  # why this validation: the config's choice, or what auto found


def select_categories(config: GlassConfig, requested: Sequence[str] | None) -> list[str]:
    """``None``: the configured (or first) category; ``["all"]``: every category of the root."""
    root = resolve_data_root(config)
    data_format = resolve_format(root, config.data_format)
    if not requested:
        return [resolve_category(config, root, data_format)]
    if list(requested) == ["all"]:
        return list_categories(root, data_format)
    return list(requested)


def check_category(config: GlassConfig) -> CategoryReport:
    """Resolve, scan, split and decode one category; data problems are collected, not raised."""
    report = CategoryReport(category=config.category or "?", config=config)
    judge_svd = config.svd == "auto"  # the official judge decodes every training image: files first
    try:
        report.config = resolve_run_config(config.replace(svd=0) if judge_svd else config)
        report.category = report.config.category or report.category
        samples = run_samples(report.config)
    except DataError as exc:
        report.problems.append(str(exc))
        return report
    report.warnings += [*samples.split.warnings, *samples.val_warnings]
    if config.val_source == "auto":
        report.val_reason = "auto: " + choose_val_source(samples.split.test)[1]
    else:
        report.val_reason = f"val_source={config.val_source} in the config"
    files = _decode_all(samples, binary_masks=report.config.data_format != "visa")
    _count(report, samples, files)
    for info in files.values():
        report.problems += info.problems
    report.warnings += _collapse(w for info in files.values() for w in info.warnings)
    report.warnings += _cache_warnings(report.config, len(samples.split.train))
    report.problems += _texture_problems(report.config)
    if judge_svd and not report.problems:
        report.config = report.config.replace(svd=resolve_run_config(config).svd)
    return report


def _decode_all(samples: RunSamples, *, binary_masks: bool) -> dict[Path, FileReport]:
    unique = {s.path: s for s in [*samples.split.train, *samples.split.test, *samples.val]}
    with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
        reports = pool.map(lambda s: _inspect(s, binary_masks=binary_masks), unique.values())
        return dict(zip(unique, reports, strict=True))


def _inspect(sample: Sample, *, binary_masks: bool) -> FileReport:
    """Decode the image and its masks; masks must match the image size."""
    info = FileReport()
    try:
        info.size = load_rgb(sample.path).size  # what training reads, conversion included
    except DataError as exc:
        info.problems.append(str(exc))
    for path, what in ((sample.mask_path, "mask"), (sample.fg_path, "foreground mask")):
        if path is None:
            continue
        try:
            arr = np.asarray(open_image(path))
        except DataError as exc:
            info.problems.append(str(exc))
            continue
        size = (arr.shape[1], arr.shape[0])
        if info.size is not None and size != info.size:
            info.problems.append(
                f"{path}: {what} is {size[0]}x{size[1]} but its image {sample.path} is "
                f"{info.size[0]}x{info.size[1]} (expected the same size)"
            )
        if what == "mask":
            _check_mask(path, arr, info, binary=binary_masks)
    return info


def _check_mask(path: Path, arr: np.ndarray, info: FileReport, *, binary: bool) -> None:
    defect = arr.any(axis=-1) if arr.ndim == 3 else arr > 0
    info.mask_area = float(defect.mean())
    if not defect.any():
        info.warnings.append(("empty", f"{path}: mask has no defect pixel (expected the defect region non-zero)"))
    levels = len(np.unique(arr))
    if binary and levels > 2:
        info.warnings.append(
            ("binary", f"{path}: mask is not binary ({levels} grey levels); binarized, any non-zero pixel is a defect")
        )


def _count(report: CategoryReport, samples: RunSamples, files: dict[Path, FileReport]) -> None:
    parts = (("train", samples.split.train), ("val", samples.val), ("test", samples.test or []))
    for part, group in parts:
        for sample in group:
            row = report.types.setdefault(sample.defect_type, TypeCounts())
            setattr(row, part, getattr(row, part) + 1)
    for sample in {s.path: s for s in [*samples.val, *(samples.test or [])]}.values():
        if sample.label == 1:
            row = report.types[sample.defect_type]
            row.anomalous += 1
            area = files[sample.path].mask_area if sample.mask_path is not None else None
            if area is not None:
                row.with_mask += 1
                row.area_sum += area
    report.sizes.update(info.size for info in files.values() if info.size is not None)


def _collapse(warnings: Iterable[tuple[str, str]]) -> list[str]:
    """Per-file warnings of one kind become one line naming the first file, so a folder of
    anti-aliased masks does not print a thousand lines."""
    kinds: dict[str, list[str]] = {}
    for kind, message in warnings:
        kinds.setdefault(kind, []).append(message)
    return [group[0] + (f" (and {len(group) - 1} more)" if len(group) > 1 else "") for group in kinds.values()]


def _cache_warnings(config: GlassConfig, n_train: int) -> list[str]:
    h, w = config.input_shape
    need = n_train * 3 * h * w
    if need <= DEFAULT_CACHE_BYTES:
        return []
    cached = DEFAULT_CACHE_BYTES // (3 * h * w)
    return [
        f"{config.data_root}: {n_train} training images need {need / 2**20:.0f} MiB at {h}x{w}, more than the "
        f"{DEFAULT_CACHE_BYTES / 2**20:.0f} MiB image cache; {n_train - cached} are read from disk every epoch"
    ]


def _texture_problems(config: GlassConfig) -> list[str]:
    if config.anomaly_source_path is None:
        return []
    try:
        FolderTextures(config.anomaly_source_path).check_readable()
    except DataError as exc:
        return [str(exc)]
    return []


def check_categories(config: GlassConfig, categories: Sequence[str]) -> list[CategoryReport]:
    return [check_category(config.replace(category=c)) for c in categories]


def raise_on_problems(reports: Sequence[CategoryReport]) -> None:
    """One line naming the first problem (and how many more), as every user error."""
    problems = [p for r in reports for p in r.problems]
    if problems:
        more = f" ({len(problems) - 1} more; glass-tune check-data lists them all)" if len(problems) > 1 else ""
        raise DataError(problems[0] + more)


def preflight(
    config: GlassConfig,
    categories: Sequence[str],
    *,
    models: Sequence[GlassConfig] | None = None,
    weights_at_hand: bool = True,
) -> list[CategoryReport]:
    """The driver-side check of ``train`` and ``tune``: the models of ``models`` (default: ``config``'s)
    build (see ``check_buildable``), then the data: print warnings, stop on the first problem."""
    from glass_tune.model.glass import check_buildable  # timm: check-data does without it

    check_buildable(models or [config], weights_at_hand=weights_at_hand)
    reports = check_categories(config, categories)
    texture_notice(config)  # once here: trials of a search keep their notices to themselves
    for report in reports:
        for warning in report.warnings:
            log.warning(f"[{report.category}] {warning}")
    raise_on_problems(reports)
    return reports


def format_report(report: CategoryReport) -> str:
    """The per-category table of ``check-data``."""
    cfg = report.config
    lines = [f"{report.category}  ({cfg.data_format} layout, {cfg.data_root})"]
    if report.types:
        held = sum(row.val for row in report.types.values())
        text = _VAL_SOURCE_TEXT[cfg.val_source].format(
            ratio=cfg.val_ratio,
            seed=cfg.seed,
            val_dir=cfg.val_dir,
            held=held,
            synthetic_ratio=cfg.synthetic_val_ratio,
            kinds=", ".join(KINDS),
        )
        lines += [f"  validation: {text}", f"    why: {report.val_reason}", *_table(report)]
        sizes = ", ".join(f"{w}x{h} ({n})" for (w, h), n in sorted(report.sizes.items(), key=lambda kv: -kv[1]))
        lines.append(f"  image sizes: {sizes or 'none readable'}")
        fg = foreground_dir(cfg.data_root or "", report.category)
        lines.append(f"  foreground masks: {'from ' + str(fg) if cfg.foreground is True else 'not used'}")
    lines += _listed("warnings", report.warnings) + _listed("problems", report.problems)
    return "\n".join(lines)


def _table(report: CategoryReport) -> list[str]:
    header = f"  {'type':<20} {'train':>6} {'val':>6} {'test':>6} {'masks':>9} {'defect area':>12}"
    rows = [header]
    order = sorted(report.types, key=lambda t: (t != GOOD, t))
    total = TypeCounts()
    for name in order:
        row = report.types[name]
        rows.append(_row(name, row))
        for attr in ("train", "val", "test", "anomalous", "with_mask", "area_sum"):
            setattr(total, attr, getattr(total, attr) + getattr(row, attr))
    rows.append(_row("total", total))
    return rows


def _row(name: str, row: TypeCounts) -> str:
    masks = f"{row.with_mask}/{row.anomalous}" if row.anomalous else "-"
    area = f"{100 * row.area_sum / row.with_mask:.2f}%" if row.with_mask else "-"
    return f"  {name:<20} {row.train or '-':>6} {row.val or '-':>6} {row.test or '-':>6} {masks:>9} {area:>12}"


def _listed(title: str, messages: Sequence[str]) -> list[str]:
    if not messages:
        return [f"  {title}: none"]
    shown = [f"    - {m}" for m in messages[:MAX_LISTED]]
    if len(messages) > MAX_LISTED:
        shown.append(f"    ... and {len(messages) - MAX_LISTED} more")
    return [f"  {title}:", *shown]
