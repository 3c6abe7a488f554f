"""How much does the seed alone move a trial's objective? One config, several seeds, nothing else changed.

A search ranks trials by a number; if training the same configuration with another seed moves that
number more than the searched knobs do, the search ranks seeds. This trains the CPU demo profile
(paper defaults for every GLASS knob) on a synthetic category with ``--seeds`` seeds and records,
per seed, the candidate objectives (``best``: best validation score over epochs, what the search
optimised so far; ``smoothed``: mean of the best 3) and the held-out test figures of the selected
epoch, then their spread. Writes ``benchmarks/results/seed_spread.json``.

    .venv/bin/python benchmarks/seed_spread.py                       # weave, 5 seeds, 6 epochs
    .venv/bin/python benchmarks/seed_spread.py --category marble --seeds 3 --epochs 4
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

import glass_tune
from glass_tune.config.schema import GlassConfig, load_config
from glass_tune.experiment.score_rules import rule_score
from glass_tune.training.loop import FitResult, fit
from glass_tune.util.atomic_io import atomic_write_json
from glass_tune.util.runtime import versions

CPU_DEMO = Path(glass_tune.__file__).parent / "config" / "profiles" / "cpu_demo.yaml"
RESULTS = Path(__file__).parent / "results"
TEST_KEYS = ("image_auroc", "pixel_auroc", "aupro")


def profile_config(*, category: str, epochs: int, samples_per_epoch: int, seed: int) -> GlassConfig:
    """The CPU demo profile (built-in synthetic data, split validation) with a shorter schedule."""
    return load_config(
        CPU_DEMO, extra={"category": category, "epochs": epochs, "seed": seed, "samples_per_epoch": samples_per_epoch}
    )


def run_figures(result: FitResult) -> dict[str, Any]:
    """A finished run's objectives (both kinds) and held-out figures."""
    scores = [row["score"] for row in result.history if "score" in row]
    return {
        "best": rule_score(scores, rule="best"),
        "smoothed": rule_score(scores, rule="smoothed"),
        "best_epoch": result.best.get("epoch"),
        "test": {k: result.test[k] for k in TEST_KEYS} if result.test else None,
    }


def spread(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    return {
        "mean": float(arr.mean()),
        "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
        "min": float(arr.min()),
        "max": float(arr.max()),
        "n": int(arr.size),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", default="weave")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--samples-per-epoch", type=int, default=31, help="31: 4 batches of 8 per epoch")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=RESULTS / "seed_spread.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    started, load_start = time.time(), os.getloadavg()[0]
    runs = []
    for seed in range(args.seeds):
        config = profile_config(category=args.category, epochs=args.epochs, samples_per_epoch=args.samples_per_epoch, seed=seed)
        t0 = time.time()
        figures = {"seed": seed, **run_figures(fit(config)), "seconds": round(time.time() - t0, 1)}
        print(figures, flush=True)
        runs.append(figures)
    with_test = [r for r in runs if r["test"]]
    doc = {
        "category": args.category,
        "epochs": args.epochs,
        "samples_per_epoch": args.samples_per_epoch,
        "runs": runs,
        "spread": {
            "best": spread([r["best"] for r in runs]),
            "smoothed": spread([r["smoothed"] for r in runs]),
            **{f"test_{k}": spread([r["test"][k] for r in with_test]) for k in TEST_KEYS},
        },
        "profile": "glass_tune/config/profiles/cpu_demo.yaml",
        "torch_threads": args.threads,
        "seconds": round(time.time() - started, 1),
        "load_average_1m": {"start": load_start, "end": os.getloadavg()[0]},
        "versions": versions(),
    }
    atomic_write_json(args.out, doc)
    print(f"written {args.out}: {doc['spread']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
