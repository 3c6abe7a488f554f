"""Does tuning beat the paper default on held-out data? Equal budget, several seeds, with the spread.

For each seed, on a built-in synthetic category with the CPU demo profile (shorter schedule):

- ``default``: the paper default trained once;
- ``random``: ``--samples`` trials proposed by Optuna's RandomSampler over the bundled default space;
- ``tpe``: the tool's default search: the space's starting point (paper values) first, then
  ``strategy.make_sampler(kind="tpe")`` (start-up trials scaled to the budget, multivariate).

The space is resolved for the category exactly as ``glass-tune tune`` does (svd judged, radius_quantile
only under svd=1, noise range from the embedding size). Each trial trains with the seed of its
search, as trials of one ``tune`` run do. A search selects its trial by the validation objective
(``best``; the ``smoothed`` selection from the same trials is recorded too); what counts is the
selected trial's held-out test figures (the split's other half, never used for selection).
Paired differences to the default over the seeds decide whether tuning beats it beyond the noise
(mean difference above two standard errors). Writes ``benchmarks/results/search_efficacy.json``.

    .venv/bin/python benchmarks/search_efficacy.py                      # weave, 3 seeds, 4 trials, 6 epochs (about 25 min of CPU)
    .venv/bin/python benchmarks/search_efficacy.py --jobs 3            # one process per seed
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import torch

sys.path.insert(0, str(Path(__file__).parent))
from seed_spread import RESULTS, TEST_KEYS, profile_config, run_figures, spread

from glass_tune.search.samplers import make_sampler
from glass_tune.search.space import SpaceSampler, load_search_space
from glass_tune.training.loop import fit
from glass_tune.training.run_inputs import resolve_run_config
from glass_tune.util.atomic_io import atomic_write_json
from glass_tune.util.runtime import versions

METHODS = ("random", "tpe")
SELECTIONS = ("best", "smoothed")


def search(config, space, *, method: str, seed: int, samples: int) -> list[dict[str, Any]]:
    """One search: ``samples`` trials, each a full training; every trial's params and figures."""
    sampler = make_sampler(
        kind=method,
        seed=seed,
        samples=samples,
        parallel=False,
        conditional=any(p.condition is not None for p in space.params.values()),
    )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    if method == "tpe":
        for point in space.points_to_evaluate:
            study.enqueue_trial(dict(point))
    trials = []
    for _ in range(samples):
        trial = study.ask()
        fixed = SpaceSampler(space)(trial)
        t0 = time.time()
        figures = run_figures(fit(config.replace(**fixed, **trial.params)))
        study.tell(trial, figures["best"])
        trials.append({"params": dict(trial.params), **figures, "seconds": round(time.time() - t0, 1)})
        print(f"  seed {seed} {method} trial {trial.number}: {trials[-1]}", flush=True)
    return trials


def selected(trials: list[dict[str, Any]], by: str) -> dict[str, Any]:
    return max(trials, key=lambda t: t[by])


def paired(deltas: Sequence[float]) -> dict[str, Any]:
    """Mean paired difference, its standard error, and whether it exceeds two standard errors."""
    arr = np.asarray(deltas, dtype=float)
    se = float(arr.std(ddof=1) / math.sqrt(arr.size)) if arr.size > 1 else math.inf
    return {"mean": float(arr.mean()), "se": se, "per_seed": [float(d) for d in arr], "beyond_noise": bool(arr.mean() > 2 * se)}


def _one_seed(job: tuple[int, argparse.Namespace]) -> dict[str, Any]:
    """The default and every search for one seed."""
    seed, args = job
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    config = resolve_run_config(
        profile_config(category=args.category, epochs=args.epochs, samples_per_epoch=args.samples_per_epoch, seed=seed)
    )
    space = load_search_space(args.space).resolve(config)
    print(f"seed {seed}: svd={config.svd}, searched {list(space.params)}", flush=True)
    default = run_figures(fit(config))
    print(f"  seed {seed} default: {default}", flush=True)
    searches = {m: search(config, space, method=m, seed=seed, samples=args.samples) for m in METHODS}
    return {
        "seed": seed,
        "svd": config.svd,
        "searched": list(space.params),
        "default": default,
        "searches": {
            m: {"trials": t, **{f"selected_by_{by}": selected(t, by) for by in SELECTIONS}} for m, t in searches.items()
        },
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--category", default="weave")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=4, help="trials per search")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--samples-per-epoch", type=int, default=31, help="31: 4 batches of 8 per epoch")
    parser.add_argument("--space", default="default")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process")
    parser.add_argument("--jobs", type=int, default=1, help="seeds trained in parallel processes")
    parser.add_argument("--out", type=Path, default=RESULTS / "search_efficacy.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    started, load_start = time.time(), os.getloadavg()[0]
    jobs = [(seed, args) for seed in range(args.seeds)]
    if args.jobs > 1:  # one process per seed (each single-threaded); spawn: no forked torch state
        with ProcessPoolExecutor(max_workers=args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            per_seed = list(pool.map(_one_seed, jobs))
    else:
        per_seed = [_one_seed(job) for job in jobs]
    summary: dict[str, Any] = {}
    for key in TEST_KEYS:
        rows = {"default": spread([s["default"]["test"][key] for s in per_seed])}
        for m in METHODS:
            for by in SELECTIONS:
                values = [s["searches"][m][f"selected_by_{by}"]["test"][key] for s in per_seed]
                rows[f"{m}/{by}"] = spread(values)
                rows[f"{m}/{by}"]["vs_default"] = paired([v - s["default"]["test"][key] for v, s in zip(values, per_seed)])
        summary[f"test_{key}"] = rows
    doc = {
        "question": "held-out test figures of each method's selected config (paper default alone vs searches of equal budget)",
        "category": args.category,
        "seeds": args.seeds,
        "samples_per_search": args.samples,
        "epochs": args.epochs,
        "samples_per_epoch": args.samples_per_epoch,
        "space": args.space,
        "summary": summary,
        "per_seed": per_seed,
        "profile": "glass_tune/config/profiles/cpu_demo.yaml",
        "torch_threads": args.threads,
        "processes": args.jobs,
        "seconds": round(time.time() - started, 1),
        "load_average_1m": {"start": load_start, "end": os.getloadavg()[0]},
        "versions": versions(),
    }
    atomic_write_json(args.out, doc)
    print(f"written {args.out}")
    for key, rows in summary.items():
        print(key, {k: (round(v["mean"], 4), round(v["std"], 4)) for k, v in rows.items()})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
