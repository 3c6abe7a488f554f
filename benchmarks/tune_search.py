"""What the two search benchmarks (``tune_overhead.py``, ``tune_throughput.py``) share: their size
flags and one timed ``glass-tune tune`` run.

The search is FIFO (no early stopping) with one trial at a time, so trials do not compete for the
cores and each trial gets ``threads`` CPUs; without the confirmation stage (``--confirm-top 0``), so
the seconds are those of the searched trials alone. Imported as a sibling script (``benchmarks/`` is
not a package), like ``epoch_time``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import ray

from glass_tune.cli.main import main as cli_main


def search_parser(description: str, *, out: Path) -> argparse.ArgumentParser:
    """The flags both benchmarks take: trials, epochs per trial, threads per trial, result file."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=out)
    return parser


def timed_search(
    config: Path,
    space: str | Path,
    *,
    trials: int,
    epochs: int,
    threads: int,
    storage: Path,
    name: str,
    extra: Sequence[str] = (),
) -> float:
    """Wall seconds of one ``glass-tune tune`` (Ray start-up and shutdown included); ``extra``: more tune flags."""
    args = ["tune", "--config", str(config), "--space", str(space), "--samples", str(trials), "--epochs", str(epochs),
            "--scheduler", "fifo", "--max-concurrent", "1", "--cpus-per-trial", str(threads), "--confirm-top", "0",
            "--storage", str(storage), "--name", name, *extra]  # fmt: skip
    started = time.perf_counter()
    if cli_main(args) != 0:
        raise SystemExit(f"the {name} search failed")
    elapsed = time.perf_counter() - started
    ray.shutdown()
    return elapsed
