"""What Ray Tune + Optuna cost on top of training: the same N trials through `glass-tune tune`
(FIFO, no early stopping, one trial at a time) versus N plain calls of the training loop.

Both sides train identical configs (the space's points_to_evaluate, one per trial) with the same
threads (Ray gives each trial ``--cpus-per-trial`` threads; the plain side sets the same), in one
process run side by side, so the ratio is meaningful on a noisy machine. Writes
``benchmarks/results/tune_overhead.json``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import torch
import yaml
from tune_search import search_parser, timed_search  # the sibling script (benchmarks/ is not a package)

from glass_tune.config.schema import load_config
from glass_tune.data import default_synthetic_root
from glass_tune.training.loop import fit
from glass_tune.util.atomic_io import atomic_write_json
from glass_tune.util.runtime import versions

PROFILE = Path(__file__).resolve().parents[1] / "glass_tune" / "config" / "profiles" / "cpu_demo.yaml"
STEPS = (20, 10, 5, 15, 30, 25, 8, 12)


def plain_runs(config_path: Path, *, n: int, epochs: int, threads: int) -> float:
    """Seconds for ``n`` sequential fit() calls (one per step value)."""
    torch.set_num_threads(threads)
    started = time.perf_counter()
    for step in STEPS[:n]:
        fit(load_config(config_path, extra={"epochs": epochs}, overrides=[f"step={step}"]))
    return time.perf_counter() - started


def tune_runs(config_path: Path, *, n: int, epochs: int, threads: int, storage: Path) -> float:
    """Seconds for the same ``n`` trials through the CLI (Ray start-up and shutdown included)."""
    space = storage / "space.yaml"
    space.write_text(
        yaml.safe_dump(
            {
                "params": {"step": {"type": "categorical", "choices": list(STEPS[:n])}},
                "points_to_evaluate": [{"step": s} for s in STEPS[:n]],
            }
        )
    )
    return timed_search(config_path, space, trials=n, epochs=epochs, threads=threads, storage=storage, name="overhead")


def main() -> None:
    args = search_parser(__doc__.splitlines()[0], out=Path("benchmarks/results/tune_overhead.json")).parse_args()
    data = default_synthetic_root()
    with tempfile.TemporaryDirectory(prefix="glass-overhead-") as tmp:
        config_path = Path(tmp) / "profile.yaml"
        profile = yaml.safe_load(PROFILE.read_text())
        config_path.write_text(yaml.safe_dump({**profile, "data_root": str(data), "category": "weave"}))
        plain = plain_runs(config_path, n=args.trials, epochs=args.epochs, threads=args.threads)
        tuned = tune_runs(config_path, n=args.trials, epochs=args.epochs, threads=args.threads, storage=Path(tmp))
    result = {
        "trials": args.trials,
        "epochs_per_trial": args.epochs,
        "threads_per_trial": args.threads,
        "profile": str(PROFILE.name),
        "plain_fit_seconds": round(plain, 2),
        "glass_tune_tune_seconds": round(tuned, 2),
        "overhead_ratio": round(tuned / plain, 3),
        "overhead_seconds_per_trial": round((tuned - plain) / args.trials, 2),
        "versions": versions(),
    }
    atomic_write_json(args.out, result)
    print(yaml.safe_dump(result, sort_keys=False))


if __name__ == "__main__":
    main()
