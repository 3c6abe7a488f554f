"""Time the generation of the built-in demo dataset (every category, 128 px), as a first run does it.

`make demo` and every trial on a node without the cached set pay this once, so it must stay at
seconds. Writes the seconds of each repeat to ``benchmarks/results/demo_data_time.json``.
Run from the repository root after ``make setup`` (or with ``PYTHONPATH=.``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from glass_tune.data.demo import CATEGORIES, generate_synthetic
from glass_tune.util.atomic_io import atomic_write_json


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "demo_data_time.json")
    args = parser.parse_args()
    seconds = []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            generate_synthetic(Path(folder) / "data")
            seconds.append(round(time.perf_counter() - start, 3))
    atomic_write_json(args.out, {"categories": sorted(CATEGORIES), "size": 128, "seconds": seconds})
    print(f"demo data: {min(seconds):.2f} s best of {args.repeats} -> {args.out}")


if __name__ == "__main__":
    main()
