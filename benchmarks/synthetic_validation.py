"""Does validation on synthetic defects rank and select configs as real-defect validation does?

For each category, ``--configs`` configs (the paper default first, then Optuna RandomSampler draws
from the bundled default space, resolved for the category as ``glass-tune tune`` does) are trained
once each with one seed on the CPU demo profile (shorter schedule) with ``val_source: synthetic``:
a share of the training images is held out and paired with synthetic-defect copies, so every config
trains on the same remaining images. Every evaluated epoch scores the same model on three sets:

- ``synthetic``: the synthetic validation set (what the run selects on);
- ``real``: the validation half of a seeded split of the real test set (what ``val_source: split``
  would select on);
- ``held_out``: the other half of that split, used by neither.

Per category, each objective (best image + pixel AUROC over epochs) ranks the configs; the
Spearman correlation of each ranking with the held-out score (at the epoch that objective
selected) says how well it predicts unseen real defects, and the held-out figures of the config
each objective selects are put side by side (with the oracle: the best held-out score).

Categories: ``weave`` and ``marble`` of the built-in synthetic data, and the synthetic ``washer``
images copied into an MVTec-layout folder named ``bottle`` (an object class the official table
trains in hypersphere mode, svd=1), so both svd modes are covered.

Resumable: each finished (category, config) unit is written at once to
``benchmarks/results/synthetic_validation/<category>/config_<i>.json``; a rerun skips finished
units and rebuilds the summary ``benchmarks/results/synthetic_validation.json`` from whatever
units exist. Units run config by config across the categories, so a partial run covers all three.

    nice -n 10 .venv/bin/python benchmarks/synthetic_validation.py                 # 3 categories x 16 configs, 4 epochs
    .venv/bin/python benchmarks/synthetic_validation.py --summary-only             # rebuild the summary
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch
from scipy.stats import spearmanr
from torch.utils.data import Dataset

from glass_tune.config.schema import GlassConfig, load_config
from glass_tune.data import default_synthetic_root, scan_category
from glass_tune.data.splits import split_validation
from glass_tune.search.space import SpaceSampler, load_search_space
from glass_tune.training.loop import Callback, EpochRecord, TrainingRun, evaluate_dataset, fit, score_of
from glass_tune.training.run_inputs import evaluation_dataset, resolve_run_config
from glass_tune.util.atomic_io import atomic_write_json
from glass_tune.util.runtime import versions

RESULTS = Path(__file__).parent / "results"
UNITS = RESULTS / "synthetic_validation"
CATEGORIES = ("weave", "marble", "bottle")
ALIASES = {"bottle": "washer"}  # MVTec-layout folder name -> built-in synthetic category copied into it
SETS = ("synthetic", "real", "held_out")
FIGURES = ("image_auroc", "pixel_auroc", "aupro", "image_f1")


def data_root(work: Path) -> Path:
    """The built-in synthetic root, with each alias copied in under its MVTec name (once)."""
    source = default_synthetic_root()
    root = work / "data"
    for category in CATEGORIES:
        target = root / category
        if not target.is_dir():
            shutil.copytree(source / ALIASES.get(category, category), target)
    return root


class ThreeSets(Callback):
    """After each evaluated epoch, score the live model on the real validation and held-out parts too."""

    def __init__(self, real: Dataset, held_out: Dataset) -> None:
        self.sets = {"real": real, "held_out": held_out}
        self.epochs: list[dict[str, Any]] = []

    def on_epoch_end(self, record: EpochRecord, run: TrainingRun) -> None:
        if record.evaluation is None:
            return
        row: dict[str, Any] = {"epoch": record.epoch, "synthetic": record.evaluation.metrics}
        for name, dataset in self.sets.items():
            row[name] = evaluate_dataset(run.model, dataset, run.config, run.device).metrics
        self.epochs.append(row)


def real_parts(config: GlassConfig) -> tuple[Dataset, Dataset]:
    """The seeded split of the real test set that ``val_source: split`` would use."""
    split = scan_category(config.data_root, config.category, config.data_format)
    val, held = split_validation(split.test, ratio=config.val_ratio, seed=config.seed, where=split.root)
    return evaluation_dataset(config, val), evaluation_dataset(config, held)


def configs_for(base: GlassConfig, *, count: int, seed: int) -> list[dict[str, Any]]:
    """The paper default, then RandomSampler draws over the default space (fixed values applied)."""
    space = load_search_space("default").resolve(base)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed))
    changes: list[dict[str, Any]] = [{}]
    while len(changes) < count:
        trial = study.ask()
        changes.append({**SpaceSampler(space)(trial), **trial.params})
        study.tell(trial, 0.0)
    return changes


def run_unit(category: str, index: int, args: argparse.Namespace, root: Path) -> dict[str, Any]:
    base = resolve_run_config(
        load_config(
            "cpu_demo",
            extra={
                "data_root": str(root),
                "category": category,
                "epochs": args.epochs,
                "samples_per_epoch": args.samples_per_epoch,
                "seed": args.seed,
                "val_source": "synthetic",
            },
        )
    )
    change = configs_for(base, count=args.configs, seed=args.seed)[index]
    config = base.replace(**change)
    callback = ThreeSets(*real_parts(config))
    started = time.time()
    result = fit(config, callbacks=[callback])
    return {
        "category": category,
        "index": index,
        "svd": config.svd,
        "params": change,
        "epochs": callback.epochs,
        "thresholds": result.thresholds,
        "seconds": round(time.time() - started, 1),
        "load_average_1m": os.getloadavg()[0],
    }


def _score(metrics: dict[str, float]) -> float:
    return score_of(metrics)


def selection(unit: dict[str, Any], by: str) -> dict[str, Any]:
    """The epoch ``by`` selects (first best, as the training loop) and the held-out figures there."""
    rows = unit["epochs"]
    scores = [_score(r[by]) for r in rows]
    i = int(np.argmax(scores))
    return {
        "objective": scores[i],
        "epoch": rows[i]["epoch"],
        "held_out": rows[i]["held_out"],
        "held_out_score": _score(rows[i]["held_out"]),
    }


def _spearman(a: Sequence[float], b: Sequence[float]) -> float:
    if len(a) < 3:
        return math.nan
    return float(spearmanr(a, b).statistic)


def summarise(units: list[dict[str, Any]]) -> dict[str, Any]:
    """Per category: rank correlations and the held-out figures of each objective's selected config."""
    out: dict[str, Any] = {}
    for category in CATEGORIES:
        mine = sorted((u for u in units if u["category"] == category), key=lambda u: u["index"])
        if not mine:
            continue
        picks = {by: [selection(u, by) for u in mine] for by in ("synthetic", "real")}
        held = {by: [p["held_out_score"] for p in picks[by]] for by in picks}
        objective = {by: [p["objective"] for p in picks[by]] for by in picks}
        selected = {}
        for by in picks:
            i = int(np.argmax(objective[by]))
            selected[by] = {
                "config": mine[i]["index"],
                "epoch": picks[by][i]["epoch"],
                "held_out_score": held[by][i],
                **picks[by][i]["held_out"],
            }
        oracle = max(range(len(mine)), key=lambda i: held["real"][i])
        out[category] = {
            "svd": mine[0]["svd"],
            "configs": len(mine),
            "spearman_synthetic_vs_held_out": _spearman(objective["synthetic"], held["synthetic"]),
            "spearman_real_vs_held_out": _spearman(objective["real"], held["real"]),
            "spearman_synthetic_vs_real": _spearman(objective["synthetic"], objective["real"]),
            "selected_by_synthetic": selected["synthetic"],
            "selected_by_real": selected["real"],
            "oracle_held_out": {
                "config": mine[oracle]["index"],
                "epoch": picks["real"][oracle]["epoch"],
                "held_out_score": held["real"][oracle],
                **picks["real"][oracle]["held_out"],
            },
            "per_config": [
                {
                    "config": u["index"],
                    "params": u["params"],
                    "synthetic_objective": picks["synthetic"][k]["objective"],
                    "real_objective": picks["real"][k]["objective"],
                    "held_out_at_synthetic_epoch": picks["synthetic"][k]["held_out_score"],
                    "held_out_at_real_epoch": picks["real"][k]["held_out_score"],
                }
                for k, u in enumerate(mine)
            ],
        }
    return out


def load_units() -> list[dict[str, Any]]:
    import json

    return [json.loads(p.read_text()) for p in sorted(UNITS.glob("*/config_*.json"))]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", type=int, default=16, help="configs per category (the first is the paper default)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--samples-per-epoch", type=int, default=31, help="31: 4 batches of 8 per epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--work", type=Path, default=Path("/tmp/glass-tune-synthetic-validation"))
    parser.add_argument("--summary-only", action="store_true")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if not args.summary_only:
        root = data_root(args.work)
        for index in range(args.configs):
            for category in CATEGORIES:
                target = UNITS / category / f"config_{index}.json"
                if target.is_file():
                    continue
                unit = run_unit(category, index, args, root)
                atomic_write_json(target, unit)
                print(f"{category} config {index}: {unit['seconds']} s", flush=True)
    units = load_units()
    doc = {
        "question": "rank correlation with held-out real-defect figures, and held-out figures of the selected config, "
        "for validation on synthetic defects vs on real defects",
        "design": {
            "configs": args.configs,
            "epochs": args.epochs,
            "samples_per_epoch": args.samples_per_epoch,
            "seed": args.seed,
        },
        "profile": "glass_tune/config/profiles/cpu_demo.yaml, val_source=synthetic (synthetic_val_ratio 0.2), val_ratio 0.5",
        "units_finished": len(units),
        "summary": summarise(units),
        "versions": versions(),
    }
    atomic_write_json(RESULTS / "synthetic_validation.json", doc)
    for category, s in doc["summary"].items():
        print(
            category,
            {k: (round(v, 3) if isinstance(v, float) else v) for k, v in s.items() if k.startswith("spearman") or k == "configs"},
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
