"""Time the metrics on one MVTec-sized category (100 maps at 288x288, ~8.3M pixels).

AUPRO and pixel AUROC run after every evaluation of every trial, so they must stay at seconds, not
minutes. Writes the seconds per metric to ``benchmarks/results/metrics_speed.json``.
Run from the repository root after ``make setup`` (or with ``PYTHONPATH=.``).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy import ndimage

from glass_tune.training.metrics import aupro, image_auroc, image_f1_max, pixel_auroc, roc_points
from glass_tune.util.atomic_io import atomic_write_json


def synthetic_category(*, n_images: int, size: int, seed: int) -> tuple[np.ndarray, ...]:
    """Half the images carry blob defects; maps are smoothed noise raised inside the defects."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n_images) % 2
    blobs = ndimage.gaussian_filter(rng.random((n_images, size, size)), sigma=(0, 6, 6))
    masks = (blobs > np.quantile(blobs, 0.98, axis=(1, 2), keepdims=True)) & labels[:, None, None].astype(bool)
    maps = ndimage.gaussian_filter(rng.random((n_images, size, size)), sigma=(0, 4, 4)) + 0.05 * masks
    maps = maps.astype(np.float32)
    scores = maps.max(axis=(1, 2))
    return labels, scores, masks, maps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--size", type=int, default=288)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "metrics_speed.json")
    args = parser.parse_args()

    labels, scores, masks, maps = synthetic_category(n_images=args.images, size=args.size, seed=0)
    jobs = {
        "image_auroc": lambda: image_auroc(labels, scores),
        "image_f1_max": lambda: image_f1_max(labels, scores),
        "pixel_auroc": lambda: pixel_auroc(masks, maps),
        "aupro": lambda: aupro(masks, maps),
        "pixel_roc_points": lambda: roc_points(masks, maps),
    }
    seconds: dict[str, float] = {}
    values: dict[str, float] = {}
    for name, job in jobs.items():
        start = time.perf_counter()
        result = job()
        seconds[name] = round(time.perf_counter() - start, 3)
        if isinstance(result, float):
            values[name] = round(result, 6)
        print(f"{name:>16}: {seconds[name]:.3f} s")
    atomic_write_json(
        args.out,
        {
            "images": args.images,
            "size": args.size,
            "pixels": int(masks.size),
            "seconds": seconds,
            "values": values,
        },
    )
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
