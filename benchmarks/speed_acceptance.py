"""Issue 9 acceptance: a frozen wide_resnet50_2 epoch with the speed defaults vs the plain path.

Frozen wide_resnet50_2 (weights from a local file: a random-init timm state dict saved here and
loaded through ``backbone_weights``, since nothing can be downloaded), 1536-d, 128 px, 40 training
images of the synthetic ``weave`` category, evaluation every epoch, 2 epochs.  The same run twice
back to back in this process: with the defaults (hidden-space GAS loop, feature cache) and with
``feature_cache=false, gas_loop=reference``.  Each run writes its own ``metrics.json`` (as
``glass-tune train`` does); the figures compared are the second epoch's ``seconds`` (training +
evaluation) from there, with ``startup_seconds`` (model, data and the cache fill) beside them.
Target: defaults <= 0.55x the plain path, the same selected epoch and image AUROC within 0.02.

On a shared machine the load drifts between runs, so ``--pairs 2`` runs reference, defaults,
defaults, reference (an ABBA order cancels a linear drift) and judges the pooled ratio (sum of the
defaults' second epochs over the reference's); each pair's ratio is kept too.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import timm
import torch
from epoch_time import environment  # the sibling script (benchmarks/ is not a package)

from glass_tune.config.schema import GlassConfig
from glass_tune.data import generate_synthetic
from glass_tune.training.loop import fit
from glass_tune.util.atomic_io import atomic_write_json

RESULTS = Path(__file__).parent / "results" / "speed_acceptance.json"
CATEGORY = "weave"
TRAIN_IMAGES = 40
TARGET_RATIO = 0.55
AUROC_TOLERANCE = 0.02
VARIANTS = {"reference": {"feature_cache": False, "gas_loop": "reference"}, "defaults": {}}


def prepare(root: Path, *, train_images: int, size: int) -> tuple[Path, Path]:
    """The synthetic category cut to ``train_images`` training images, and a local weights file."""
    data = generate_synthetic(root / "data", categories=[CATEGORY], size=size)
    train = sorted((data / CATEGORY / "train" / "good").glob("*.png"))
    for extra in train[train_images:]:
        extra.unlink()
    torch.manual_seed(0)
    weights = root / "wide_resnet50_2.pth"
    torch.save(timm.create_model("wide_resnet50_2", pretrained=False).state_dict(), weights)
    return data, weights


def base_config(data: Path, weights: Path, *, size: int, epochs: int) -> GlassConfig:
    """Paper defaults (1536/1536, discriminator 1024, step 20, batch 8) at ``size`` px, frozen backbone."""
    return GlassConfig(
        input_shape=(size, size), pre_trained=True, backbone_weights=str(weights), data_root=str(data),
        category=CATEGORY, epochs=epochs, eval_interval=1, device="cpu",
    )  # fmt: skip


def run_variant(config: GlassConfig, out: Path) -> dict[str, Any]:
    started = time.perf_counter()
    fit(config, out_dir=out, save_checkpoints=False)
    doc = json.loads((out / "metrics.json").read_text())
    history = doc["history"]
    return {
        "overrides": {k: getattr(config, k) for k in ("gas_loop", "feature_cache")},
        "startup_seconds": doc["startup_seconds"],
        "feature_cache_seconds": doc["feature_cache_seconds"],
        "epoch_seconds": [row["seconds"] for row in history],
        "best_epoch": doc["best"]["epoch"],
        "best_image_auroc": doc["best"]["image_auroc"],
        "best_pixel_auroc": doc["best"]["pixel_auroc"],
        "history": [{k: row[k] for k in ("epoch", "image_auroc", "pixel_auroc", "loss", "seconds")} for row in history],
        "wall_seconds": round(time.perf_counter() - started, 2),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--train-images", type=int, default=TRAIN_IMAGES)
    parser.add_argument("--pairs", type=int, default=1, help="runs of each variant, in ABBA order")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    doc: dict[str, Any] = {**environment(torch.device("cpu")), "category": CATEGORY, "train_images": args.train_images}
    with tempfile.TemporaryDirectory(prefix="glass-speed-acceptance-") as tmp:
        data, weights = prepare(Path(tmp), train_images=args.train_images, size=args.size)
        base = base_config(data, weights, size=args.size, epochs=args.epochs)
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in VARIANTS}
        for pair in range(args.pairs):
            for name in list(VARIANTS)[:: 1 if pair % 2 == 0 else -1]:
                print(f"pair {pair + 1}, {name}: {VARIANTS[name] or 'defaults'}", flush=True)
                runs[name].append(run_variant(base.replace(**VARIANTS[name]), Path(tmp) / f"{name}-{pair}"))
                last = runs[name][-1]
                print(f"  epochs {last['epoch_seconds']} s, startup {last['startup_seconds']} s", flush=True)
    defaults, ref = runs["defaults"], runs["reference"]
    pair_ratios = [f["epoch_seconds"][-1] / r["epoch_seconds"][-1] for f, r in zip(defaults, ref, strict=True)]
    ratio = sum(f["epoch_seconds"][-1] for f in defaults) / sum(r["epoch_seconds"][-1] for r in ref)
    same_epoch = all(f["best_epoch"] == r["best_epoch"] for f, r in zip(defaults, ref, strict=True))
    auroc_gap = max(abs(f["best_image_auroc"] - r["best_image_auroc"]) for f, r in zip(defaults, ref, strict=True))
    doc.update(
        config={k: v for k, v in base.to_dict().items() if k not in ("data_root", "backbone_weights")},
        runs=runs,
        pair_ratios=[round(r, 4) for r in pair_ratios],
        second_epoch_ratio=round(ratio, 4),
        same_selected_epoch=same_epoch,
        image_auroc_gap=round(auroc_gap, 4),
        passed=ratio <= TARGET_RATIO and same_epoch and auroc_gap <= AUROC_TOLERANCE,
        load_average_1m_end=environment(torch.device("cpu"))["load_average_1m"],
    )
    atomic_write_json(args.out, doc)
    print(f"second epoch: defaults / reference = {ratio:.3f} (target <= {TARGET_RATIO}); wrote {args.out}")


if __name__ == "__main__":
    main()
