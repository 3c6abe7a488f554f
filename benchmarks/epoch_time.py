"""Seconds per GLASS training epoch, split by component, for the CPU demo and the paper profile.

The library's own ``train_epoch`` and ``evaluate_dataset`` run unchanged; timing comes from hooks
attached by this script only: module forward hooks on the backbone and the patch aggregator (the
embedding forward), a gradient hook on the embeddings plus an optimizer step pre-hook (the embedding
backward: from the moment the gradient reaches the embeddings until ``loss.backward()`` returns,
which is all backbone and aggregator work because autograd runs the most recently created nodes
first), and wrappers around ``global_anomaly_synthesis``, the dataset's LAS synthesizer and
``metrics.evaluate``. With ``--device cuda`` every timestamp is taken after
``torch.cuda.synchronize()``.

Components (seconds per epoch):

* ``backbone_forward`` / ``backbone_backward``: ``GlassModel.embed`` of the normal and LAS images;
* ``gas``: the gradient-ascent loop (``step + 1`` discriminator passes and ``step`` input gradients);
* ``las``: Perlin mask + texture blending in the training dataset;
* ``step_rest``: everything else in ``train_epoch`` (adaptor, LAS discriminator pass, losses, the
  backward pass through the heads, optimizer steps, image normalisation and batching);
* ``evaluation``: ``evaluate_dataset`` over the selection split without the metrics;
* ``metrics``: ``metrics.evaluate`` on those scores and maps.

A short run measures a few batches and extrapolates to a full epoch from per-batch means (LAS from
its per-image mean); both the measured and the per-epoch figures are written.

Every profile runs twice, side by side in this process: with the speed defaults (``defaults``: the hidden-space
GAS loop and, with a frozen backbone, the feature cache) and with the plain path (``reference``:
``gas_loop=reference, feature_cache=false``); ``ratio`` is defaults / reference per component and per
epoch.  The cache fill happens before the first epoch and is reported as ``startup`` beside the
epoch, not in it.  Frozen profiles load a random-init state dict through ``backbone_weights`` (no
downloads); their speed does not depend on the weights' values.
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest import mock

import timm
import torch

import glass_tune
import glass_tune.model.glass as glass_module
from glass_tune.config.schema import GlassConfig, load_config
from glass_tune.data import generate_synthetic
from glass_tune.training import metrics as metrics_lib
from glass_tune.training.loop import TrainingRun, batches_per_epoch, evaluate_dataset, start_run, train_epoch
from glass_tune.util.atomic_io import atomic_write_json
from glass_tune.util.runtime import peak_gpu_memory_mb, resolve_device, versions

CPU_DEMO = Path(glass_tune.__file__).parent / "config" / "profiles" / "cpu_demo.yaml"
RESULTS = Path(__file__).parent / "results" / "epoch_time.json"
CATEGORY = "weave"  # a manifold (svd=0) category: no per-epoch center pass
GPU_BATCHES = 50
COMPONENTS = ("backbone_forward", "backbone_backward", "gas", "las", "step_rest", "evaluation", "metrics")


@dataclass(frozen=True)
class Profile:
    """A benchmarked configuration: a YAML file (None: the paper defaults) plus overrides."""

    name: str
    config_file: Path | None
    overrides: Mapping[str, Any] = field(default_factory=dict)
    cpu_batches: int = 2
    epoch_train_images: int | None = None  # train-set size a per-epoch figure assumes (None: the synthetic set)
    train_images: int | None = None  # cut the synthetic train set to this many (None: all 60)
    frozen: bool = False  # load a local random-init state dict, which freezes the backbone
    note: str = ""


VARIANTS: dict[str, dict[str, Any]] = {"defaults": {}, "reference": {"gas_loop": "reference", "feature_cache": False}}
PROFILES = (
    Profile(
        "resnet18_128",
        CPU_DEMO,
        cpu_batches=8,
        note=(
            "glass_tune/config/profiles/cpu_demo.yaml (random init, trained backbone: no feature cache, only the GAS loop "
            "differs); an epoch is one pass over the 60 synthetic train images"
        ),
    ),
    Profile(
        "wide_resnet50_2_frozen_128",
        None,
        {"input_shape": [128, 128]},
        cpu_batches=5,
        train_images=40,
        frozen=True,
        note="paper dims (1536/1024, step 20), frozen backbone, 128 px; an epoch is one pass over 40 train images",
    ),
    Profile(
        "wide_resnet50_2_frozen_288",
        None,
        cpu_batches=1,
        epoch_train_images=400,
        train_images=16,
        frozen=True,
        note=(
            "the paper's profile: 288 px, 1536/1024, step 20, frozen backbone; a few batches measured and each part "
            "extrapolated to the official cap of samples_per_epoch // batch_size + 1 = 50 batches (an MVTec-size "
            "train set); the cache fill is measured on the 16 train images kept here"
        ),
    ),
)


class Clock:
    """``perf_counter`` after the device has finished the queued work."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def __call__(self) -> float:
        if self.cuda:
            torch.cuda.synchronize()
        return time.perf_counter()


class _Probe:
    """Accumulates per-component seconds of the training steps of one run."""

    def __init__(self, run: TrainingRun, clock: Clock) -> None:
        self.run = run
        self.clock = clock
        self.seconds: defaultdict[str, float] = defaultdict(float)
        self.calls: Counter[str] = Counter()
        self._embed_started = 0.0
        self._grad_arrived: float | None = None

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()

    def timed(self, fn: Callable[..., Any], name: str) -> Callable[..., Any]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = self.clock()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += self.clock() - start
                self.calls[name] += 1

        return wrapper

    def _embed_begin(self, module: torch.nn.Module, args: Any) -> None:
        self._embed_started = self.clock()

    def _embed_end(self, module: torch.nn.Module, args: Any, output: tuple[torch.Tensor, Any]) -> None:
        self.seconds["backbone_forward"] += self.clock() - self._embed_started
        self.calls["backbone_forward"] += 1
        if output[0].requires_grad:
            output[0].register_hook(self._grad_hook)

    def _grad_hook(self, grad: torch.Tensor) -> None:
        if self._grad_arrived is None:
            self._grad_arrived = self.clock()

    def _backward_done(self, optimizer: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        if self._grad_arrived is not None:
            self.seconds["backbone_backward"] += self.clock() - self._grad_arrived
            self._grad_arrived = None

    @contextmanager
    def attached(self) -> Iterator[_Probe]:
        """Hooks and wrappers on this run only; everything is restored on exit."""
        model, dataset = self.run.model, self.run.data.train
        first_optimizer = next(iter(self.run.optimizers.values()))
        handles = [
            model.backbone.register_forward_pre_hook(self._embed_begin),
            model.aggregator.register_forward_hook(self._embed_end),
            first_optimizer.register_step_pre_hook(self._backward_done),
        ]
        synthesizer = dataset.synthesizer
        dataset.synthesizer = self.timed(synthesizer, "las")
        gas = self.timed(glass_module.global_anomaly_synthesis, "gas")
        try:
            with mock.patch.object(glass_module, "global_anomaly_synthesis", gas):
                yield self
        finally:
            dataset.synthesizer = synthesizer
            for handle in handles:
                handle.remove()


def _sig(value: float) -> float:
    return float(f"{value:.5g}")


def train_batches(run: TrainingRun, base: GlassConfig, count: int, clock: Clock) -> float:
    """Run ``train_epoch`` over ``count`` batches (one epoch per loader pass); returns the wall seconds."""
    available = -(-len(run.data.train) // base.batch_size)
    wall = 0.0
    while count > 0:
        k = min(count, available)
        run.config = base.replace(samples_per_epoch=max(1, k * base.batch_size - 1))  # -> k batches
        run.epoch += 1
        start = clock()
        train_epoch(run)
        wall += clock() - start
        count -= k
    run.config = base
    return wall


def _evaluate(run: TrainingRun, clock: Clock) -> tuple[float, float]:
    """``(prediction seconds, metrics seconds)`` of one ``evaluate_dataset`` over the selection split."""
    spent: list[float] = []
    evaluate = metrics_lib.evaluate

    def timed_evaluate(**kwargs: Any) -> dict[str, float]:
        start = clock()
        try:
            return evaluate(**kwargs)
        finally:
            spent.append(clock() - start)

    start = clock()
    features = run.features.val if run.features is not None else None
    with mock.patch.object(metrics_lib, "evaluate", timed_evaluate):
        evaluate_dataset(run.model, run.data.val, run.config, run.device, features=features)
    total = clock() - start
    return total - spent[0], spent[0]


def measure(
    config: GlassConfig,
    *,
    batches: int,
    warmup: int = 1,
    epoch_train_images: int | None = None,
    prepare: Callable[[TrainingRun], None] | None = None,
) -> dict[str, Any]:
    """Time ``batches`` training batches (after ``warmup`` untimed ones) and one evaluation pass.

    ``prepare`` may change the started run before the first batch (``gpu_check.py`` compiles the
    discriminator there).  On CUDA ``gpu_peak_mem_mb`` is the peak allocated from the start of the
    run (model, cache fill, batches, evaluation); None elsewhere.
    """
    base = config.replace(num_workers=0)  # LAS must run in this process to be timed
    device = resolve_device(base.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    run = start_run(base, out_dir=None, resume=None)
    if prepare is not None:
        prepare(run)
    clock = Clock(run.device)
    probe = _Probe(run, clock)
    with probe.attached():
        if warmup:
            train_batches(run, base, warmup, clock)
            probe.reset()
        wall = train_batches(run, base, batches, clock)
    evaluation, metrics = _evaluate(run, clock)

    s, n, bs = probe.seconds, probe.calls["gas"], base.batch_size
    las_per_batch = s["las"] / probe.calls["las"] * bs
    per_batch = {
        "backbone_forward": s["backbone_forward"] / n,
        "backbone_backward": s["backbone_backward"] / n,
        "gas": s["gas"] / n,
        "las": las_per_batch,
        "step_rest": (wall - s["backbone_forward"] - s["backbone_backward"] - s["gas"] - s["las"]) / n,
    }
    train_images = len(run.data.train) if epoch_train_images is None else epoch_train_images
    epoch_batches = batches_per_epoch(base, train_images)
    epoch = {k: v * epoch_batches for k, v in per_batch.items()}
    epoch["evaluation"], epoch["metrics"] = evaluation, metrics
    backbone = epoch["backbone_forward"] + epoch["backbone_backward"]
    train = sum(epoch[k] for k in per_batch)
    peak = peak_gpu_memory_mb(run.device)
    return {
        "config": {k: v for k, v in run.config.to_dict().items() if k not in ("data_root", "device", "backbone_weights")},
        "batch_size": bs,
        "grid": list(run.model.feature_grid),
        "backbone_trainable": run.model.backbone_trainable,
        "feature_cache": run.features is not None,
        "startup": run.startup,
        "measured": {
            "batches": n,
            "warmup_batches": warmup,
            "las_images": probe.calls["las"],
            "train_wall_seconds": _sig(wall),
            "seconds": {k: _sig(v) for k, v in s.items()},
        },
        "evaluation": {
            "images": len(run.data.val),
            "seconds_per_image": _sig(evaluation / len(run.data.val)),
            "metrics_seconds": _sig(metrics),
        },
        "seconds_per_batch": {k: _sig(v) for k, v in per_batch.items()},
        "epoch": {
            "batches": epoch_batches,
            "train_images": train_images,
            "extrapolated": n < epoch_batches,
            "seconds": {k: _sig(epoch[k]) for k in COMPONENTS},
            "backbone_seconds": _sig(backbone),
            "train_seconds": _sig(train),
            "total_seconds": _sig(train + evaluation + metrics),
        },
        "gas_to_backbone": _sig(epoch["gas"] / backbone),
        "gas_to_backbone_forward": _sig(epoch["gas"] / epoch["backbone_forward"]),  # as with a frozen backbone
        "gpu_peak_mem_mb": None if peak is None else round(peak, 1),
    }


def compare(config: GlassConfig, *, batches: int, warmup: int = 1, epoch_train_images: int | None = None) -> dict[str, Any]:
    """``measure`` with each of ``VARIANTS``, back to back, and the defaults / reference ratios."""
    results = {
        name: measure(config.replace(**overrides), batches=batches, warmup=warmup, epoch_train_images=epoch_train_images)
        for name, overrides in VARIANTS.items()
    }
    defaults, reference = (results[name]["epoch"] for name in VARIANTS)
    ratio = {k: _sig(defaults["seconds"][k] / v) for k, v in reference["seconds"].items() if v > 0}
    for key in ("train_seconds", "total_seconds"):
        ratio[key.removesuffix("_seconds")] = _sig(defaults[key] / reference[key])
    return {"variants": results, "ratio": ratio}


def environment(device: torch.device) -> dict[str, Any]:
    """Where the figures were taken: device, threads, versions and the machine's load."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
    else:
        name = next((line.split(":", 1)[1].strip() for line in _cpuinfo() if line.startswith("model name")), platform.processor())
    return {
        "device": device.type,
        "device_name": name,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "versions": versions(),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }


def _cpuinfo() -> list[str]:
    try:
        return Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        return []


def profile_config(profile: Profile, *, data_root: Path, device: str) -> GlassConfig:
    """The profile on the synthetic ``CATEGORY``; every epoch evaluates the full test split (val_source=test)."""
    extra = {**profile.overrides, "data_root": str(data_root), "category": CATEGORY, "device": device, "val_source": "test"}
    return load_config(profile.config_file, extra=extra)


def prepare_profile(profile: Profile, config: GlassConfig, root: Path) -> GlassConfig:
    """Generate the synthetic category at the profile's size (cut to ``train_images``) and, for a frozen
    profile, save a random-init state dict to load through ``backbone_weights``."""
    generate_synthetic(root, categories=[CATEGORY], size=max(config.input_shape))
    if profile.train_images is not None:
        for extra in sorted((root / CATEGORY / "train" / "good").glob("*.png"))[profile.train_images :]:
            extra.unlink()
    if not profile.frozen:
        return config
    weights = root / f"{config.backbone}.pth"
    torch.manual_seed(0)
    torch.save(timm.create_model(config.backbone, pretrained=False).state_dict(), weights)
    return config.replace(pre_trained=True, backbone_weights=str(weights))


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--batches", type=int, help=f"timed batches per profile (default: {GPU_BATCHES} on CUDA, a per-profile few on CPU)"
    )
    parser.add_argument("--warmup", type=int, default=1, help="untimed batches before timing")
    parser.add_argument("--profiles", nargs="+", choices=[p.name for p in PROFILES], default=[p.name for p in PROFILES])
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    doc: dict[str, Any] = {**environment(device), "category": CATEGORY, "profiles": {}}
    for profile in (p for p in PROFILES if p.name in args.profiles):
        batches = args.batches or (GPU_BATCHES if device.type == "cuda" else profile.cpu_batches)
        with tempfile.TemporaryDirectory(prefix="glass-epoch-time-") as tmp:
            config = profile_config(profile, data_root=Path(tmp), device=device.type)
            config = prepare_profile(profile, config, Path(tmp))
            print(f"{profile.name}: {batches} batches on {device.type}, {' vs '.join(VARIANTS)}", flush=True)
            started = time.perf_counter()
            result = compare(config, batches=batches, warmup=args.warmup, epoch_train_images=profile.epoch_train_images)
        doc["profiles"][profile.name] = {
            "note": profile.note,
            **result,
            "benchmark_seconds": round(time.perf_counter() - started, 1),
        }
        for name, variant in result["variants"].items():
            print(f"  {name} per epoch ({variant['epoch']['batches']} batches): {variant['epoch']['seconds']}", flush=True)
        print(f"  defaults / reference: {result['ratio']}", flush=True)
    doc["load_average_1m_end"] = round(os.getloadavg()[0], 2)
    atomic_write_json(args.out, doc)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
