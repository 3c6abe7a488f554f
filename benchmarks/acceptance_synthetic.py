"""Acceptance run: the CPU demo profile trained on every built-in synthetic category.

Same semantics as ``glass-tune train --config glass_tune/config/profiles/cpu_demo.yaml --epochs 20``
(resnet18 at 128 px, random init, the profile's dims) on the built-in synthetic data: one
``glass_tune.training.loop.fit`` per category, best epoch selected by image + pixel AUROC. The target is
image AUROC >= 0.90 and pixel AUROC >= 0.90 within 20 epochs. Writes the best epoch's figures, the
held-out test block (when the run has one) and the per-epoch curves to
``benchmarks/results/acceptance_synthetic.json``.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

import glass_tune
from glass_tune.config.schema import FIELD_NAMES, GlassConfig, load_config
from glass_tune.data import SYNTHETIC_CATEGORIES
from glass_tune.training.loop import Callback, EpochRecord, TrainingRun, fit
from glass_tune.util.atomic_io import atomic_write_json
from glass_tune.util.runtime import versions

CPU_DEMO = Path(glass_tune.__file__).parent / "config" / "profiles" / "cpu_demo.yaml"
RESULTS = Path(__file__).parent / "results" / "acceptance_synthetic.json"
TARGET = 0.90
CURVE_KEYS = ("image_auroc", "pixel_auroc", "aupro", "image_f1", "loss", "p_true", "p_fake", "seconds")


class _Progress(Callback):
    """One line per epoch on stdout, so a background run can be followed with ``tail -f``."""

    def on_epoch_end(self, record: EpochRecord, run: TrainingRun) -> None:
        row = record.row()
        figures = "  ".join(f"{k}={row[k]:.4f}" for k in ("image_auroc", "pixel_auroc", "loss") if k in row)
        print(f"  {run.config.category} epoch {record.epoch:>2}: {figures}  ({record.seconds:.1f} s)", flush=True)


def category_config(category: str, *, epochs: int, device: str, val_source: str | None) -> GlassConfig:
    """The CPU demo profile for one category; ``val_source`` is set only when the config knows the key."""
    extra: dict[str, Any] = {"category": category, "epochs": epochs, "device": device}
    if val_source is not None and "val_source" in FIELD_NAMES:
        extra["val_source"] = val_source
    return load_config(CPU_DEMO, extra=extra)


def _round(metrics: dict[str, Any] | None) -> dict[str, Any] | None:
    if metrics is None:
        return None
    return {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()}


def _first_epoch_on_target(history: list[dict[str, Any]], target: float) -> int | None:
    for row in history:
        if row.get("image_auroc", 0.0) >= target and row.get("pixel_auroc", 0.0) >= target:
            return int(row["epoch"])
    return None


def run_category(config: GlassConfig, target: float) -> dict[str, Any]:
    """Train one category and summarise the best epoch against the target."""
    started = time.perf_counter()
    result = fit(config, callbacks=[_Progress()], save_checkpoints=False)
    seconds = time.perf_counter() - started
    best = result.best
    seconds_to_best = sum(row["seconds"] for row in result.history if row["epoch"] <= best["epoch"])
    return {
        "best_epoch": best["epoch"],
        "image_auroc": round(best["image_auroc"], 4),
        "pixel_auroc": round(best["pixel_auroc"], 4),
        "aupro": round(best["aupro"], 4),
        "image_f1": round(best["image_f1"], 4),
        "meets_target": best["image_auroc"] >= target and best["pixel_auroc"] >= target,
        "first_epoch_on_target": _first_epoch_on_target(result.history, target),
        "seconds": round(seconds, 1),
        "seconds_to_best_epoch": round(seconds_to_best, 1),
        "val_source": result.val_source,
        "test": _round(result.test),
        "curve": [{k: row[k] for k in ("epoch", *CURVE_KEYS) if k in row} for row in map(_round, result.history)],
        "svd": result.config.svd,
        "data_root": result.config.data_root,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--categories", nargs="+", default=list(SYNTHETIC_CATEGORIES), choices=list(SYNTHETIC_CATEGORIES))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--val-source",
        default="test",
        help="selection split, passed only if the config has a val_source key (default: test, the official protocol)",
    )
    parser.add_argument("--target", type=float, default=TARGET)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    load_start = os.getloadavg()[0]
    categories: dict[str, Any] = {}
    config = None
    for category in args.categories:
        config = category_config(category, epochs=args.epochs, device=args.device, val_source=args.val_source)
        print(f"{category}: {config.epochs} epochs on {config.device}", flush=True)
        categories[category] = run_category(config, args.target)
        summary = categories[category]
        print(
            f"{category}: best epoch {summary['best_epoch']}  image AUROC {summary['image_auroc']:.4f}  "
            f"pixel AUROC {summary['pixel_auroc']:.4f}  target {'met' if summary['meets_target'] else 'MISSED'}",
            flush=True,
        )
    assert config is not None
    profile = {k: v for k, v in config.to_dict().items() if k not in ("category", "data_root")}
    atomic_write_json(
        args.out,
        {
            "target": {"image_auroc": args.target, "pixel_auroc": args.target, "epochs": args.epochs},
            "all_meet_target": all(c["meets_target"] for c in categories.values()),
            "val_source": config.val_source if "val_source" in FIELD_NAMES else "test (no val_source key)",
            "categories": categories,
            "profile": profile,
            "torch_threads": torch.get_num_threads(),
            "load_average_1m": {"start": round(load_start, 2), "end": round(os.getloadavg()[0], 2)},
            "versions": versions(),
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
