"""Trials per hour of a fixed small search with the speed defaults vs the plain path.

The same ``glass-tune tune`` run twice, back to back in this process: a FIFO search (no early
stopping, one trial at a time, so trials do not compete for the 2 cores) over the bundled
``cpu_smoke`` space with a fixed sampler seed, on a small frozen-backbone profile (resnet18 with
weights from a local random-init state dict, 96 px, synthetic ``weave``).  ``defaults`` uses the defaults
(hidden-space GAS loop, feature cache); ``reference`` adds ``--set gas_loop=reference --set
feature_cache=false``.  Both draw the same trials, so the ratio of their wall times (Ray start-up
included) is the speed-up a search sees.  ``--rounds 2`` runs defaults, reference, reference, defaults (an
ABBA order cancels a linear drift of the machine's load) and pools the seconds.  Writes
``benchmarks/results/tune_throughput.json``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import timm
import torch
import yaml
from epoch_time import environment  # the sibling scripts (benchmarks/ is not a package)
from tune_search import search_parser, timed_search

from glass_tune.data import generate_synthetic
from glass_tune.util.atomic_io import atomic_write_json

RESULTS = Path(__file__).parent / "results" / "tune_throughput.json"
CATEGORY = "weave"
PROFILE = {
    "backbone": "resnet18", "pre_trained": True, "input_shape": [96, 96], "pretrain_embed_dim": 256,
    "target_embed_dim": 256, "discriminator_hidden": 256, "batch_size": 8, "category": CATEGORY,
    "device": "cpu",
}  # fmt: skip
VARIANTS: dict[str, list[str]] = {"defaults": [], "reference": ["--set", "gas_loop=reference", "--set", "feature_cache=false"]}


def write_profile(root: Path) -> Path:
    """Data, a local weights file (which makes the backbone frozen) and the run config."""
    data = generate_synthetic(root / "data", categories=[CATEGORY], size=PROFILE["input_shape"][0])
    torch.manual_seed(0)
    weights = root / "resnet18.pth"
    torch.save(timm.create_model("resnet18", pretrained=False).state_dict(), weights)
    config = root / "profile.yaml"
    config.write_text(yaml.safe_dump({**PROFILE, "data_root": str(data), "backbone_weights": str(weights)}))
    return config


def main() -> None:
    parser = search_parser(__doc__.splitlines()[0], out=RESULTS)
    parser.add_argument("--rounds", type=int, default=1, help="searches of each variant, in ABBA order")
    args = parser.parse_args()
    rounds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    with tempfile.TemporaryDirectory(prefix="glass-throughput-") as tmp:
        config = write_profile(Path(tmp))
        for index in range(args.rounds):
            for name in list(VARIANTS)[:: 1 if index % 2 == 0 else -1]:
                elapsed = timed_search(
                    config, "cpu_smoke", trials=args.trials, epochs=args.epochs, threads=args.threads,
                    storage=Path(tmp), name=f"{name}-{index}", extra=["--seed", "0", *VARIANTS[name]],
                )  # fmt: skip
                rounds[name].append(round(elapsed, 2))
                print(f"{name}: {args.trials} trials in {elapsed:.1f} s", flush=True)
    seconds = {name: sum(values) / len(values) for name, values in rounds.items()}
    result: dict[str, Any] = {
        **environment(torch.device("cpu")),
        "profile": PROFILE,
        "space": "cpu_smoke",
        "trials": args.trials,
        "epochs_per_trial": args.epochs,
        "threads_per_trial": args.threads,
        "rounds": rounds,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
        "trials_per_hour": {k: round(args.trials * 3600 / v, 1) for k, v in seconds.items()},
        "speedup": round(seconds["reference"] / seconds["defaults"], 3),
    }
    atomic_write_json(args.out, result)
    print(yaml.safe_dump({k: result[k] for k in ("seconds", "trials_per_hour", "speedup")}, sort_keys=False))


if __name__ == "__main__":
    main()
