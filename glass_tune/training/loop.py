"""The one GLASS training loop: ``fit(config)`` trains, evaluates, selects and checkpoints.

``glass-tune train`` and the Ray trainable both call :func:`fit`; they differ only in the callbacks
they pass, so a best config re-trained with ``train`` reproduces what the search saw.  The schedule
follows the official code: per epoch, (center if svd=1) -> at most ``samples_per_epoch`` images ->
evaluation every ``eval_interval`` epochs -> the best epoch kept by image AUROC + pixel AUROC.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from glass_tune.config.schema import GlassConfig, save_config
from glass_tune.model import GlassModel
from glass_tune.model.feature_cache import FeatureCache, build_feature_cache
from glass_tune.training import metrics as metrics_lib
from glass_tune.training.checkpoint import (
    Checkpoint,
    capture_rng,
    load_checkpoint,
    load_model_state,
    model_state,
    restore_rng,
    save_checkpoint,
)
from glass_tune.training.run_inputs import RunData, prepare_data, resolve_run_config
from glass_tune.util.atomic_io import atomic_write_json
from glass_tune.util.errors import ConfigError, UserError
from glass_tune.util.runtime import (
    apply_precision,
    keep_freed_cpu_memory,
    loader_workers,
    peak_gpu_memory_mb,
    resolve_device,
    seed_everything,
    versions,
)

LOSS_KEYS = ("loss", "true_loss", "gaus_loss", "bce_loss", "focal_loss", "r_t", "p_true", "p_fake")


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; a search marks the trial errored with this message."""


@dataclass
class Evaluation:
    """Scores of one evaluation pass, kept so callbacks can draw ROC curves."""

    metrics: dict[str, float]
    labels: np.ndarray
    scores: np.ndarray
    masks: np.ndarray
    maps: np.ndarray


@dataclass
class EpochRecord:
    """What one epoch produced; ``evaluation`` is None on epochs that were not evaluated."""

    epoch: int
    losses: dict[str, float]
    seconds: float
    evaluation: Evaluation | None = None
    score: float | None = None
    best_score: float = -math.inf
    best_epoch: int = 0
    improved: bool = False
    gpu_peak_mem_mb: float | None = None  # CUDA runs only

    def row(self) -> dict[str, Any]:
        """The ``metrics.json`` history row."""
        out: dict[str, Any] = {"epoch": self.epoch}
        if self.evaluation is not None:
            out.update(self.evaluation.metrics)
            out["score"] = self.score
        out.update(self.losses)
        out["seconds"] = round(self.seconds, 3)
        if self.gpu_peak_mem_mb is not None:
            out["gpu_peak_mem_mb"] = round(self.gpu_peak_mem_mb, 1)
        return out


class Callback:
    """Hooks into :func:`fit`; subclasses override what they need."""

    def on_fit_start(self, run: TrainingRun) -> None:
        """Called once the model and data are ready, before the first epoch."""

    def on_epoch_end(self, record: EpochRecord, run: TrainingRun) -> None:
        """Called after every epoch (evaluated or not) and after the run's own bookkeeping."""

    def on_fit_end(self, result: FitResult, run: TrainingRun) -> None:
        """Called after the last epoch and the held-out test evaluation."""


@dataclass
class FitResult:
    config: GlassConfig
    best: dict[str, Any]
    history: list[dict[str, Any]]
    test: dict[str, float] | None
    val_source: str
    out_dir: Path | None
    startup: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        """The ``metrics.json`` document (names are the interface other tools read).

        ``startup_seconds`` (model, data and feature cache before the first epoch) and
        ``feature_cache_seconds`` (its cache part; 0 without a cache) stay out of the epochs' seconds.
        """
        return {
            "best": self.best,
            "test": self.test,
            "val_source": self.val_source,
            "thresholds": self.thresholds,
            "history": self.history,
            **self.startup,
            "config": self.config.to_dict(),
            "seed": self.config.seed,
            "versions": versions(),
        }


@dataclass
class TrainingRun:
    """Live state of a run: model, optimisers, data and selection bookkeeping."""

    config: GlassConfig
    model: GlassModel
    optimizers: dict[str, torch.optim.Optimizer]
    data: RunData
    device: torch.device
    out_dir: Path | None
    save_checkpoints: bool = True
    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best: dict[str, Any] | None = None
    best_state: dict[str, torch.Tensor] | None = None
    features: RunFeatures | None = None
    startup: dict[str, float] = field(default_factory=dict)
    thresholds: dict[str, Any] | None = None  # decision thresholds calibrated at the selected epoch

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(
            config=self.config,
            epoch=self.epoch,
            model_state=model_state(self.model, include_backbone=self.model.backbone_trainable),
            optimizer_states={k: o.state_dict() for k, o in self.optimizers.items()},
            rng_state=capture_rng(),
            history=list(self.history),
            best=self.best,
            best_model_state=self.best_state,
            thresholds=self.thresholds,
        )

    def save_checkpoint(self, path: Path) -> None:
        save_checkpoint(path, self.checkpoint())

    @property
    def best_score(self) -> float:
        return -math.inf if self.best is None else float(self.best["score"])


@dataclass
class RunFeatures:
    """A frozen backbone's cached embeddings of the training normals and the validation images."""

    train: FeatureCache
    val: FeatureCache


def use_feature_cache(config: GlassConfig, model: GlassModel) -> bool:
    """``auto``: cache when the backbone is frozen; ``true`` with a trainable backbone is a config error."""
    if config.feature_cache is True and model.backbone_trainable:
        raise ConfigError("feature_cache=true needs a frozen backbone (pre_trained=true); use auto or false")
    return config.feature_cache is True or (config.feature_cache == "auto" and not model.backbone_trainable)


def build_run_features(run: TrainingRun) -> RunFeatures | None:
    """Embed the training normals and validation images once (None when the memory budget says no)."""
    caches = []
    for dataset in (run.data.train_normal, run.data.val):
        images = (batch["image"] for batch in _loader(dataset, run.config))
        cache = build_feature_cache(run.model, images, count=len(dataset), device=run.device)
        if cache is None:
            return None
        caches.append(cache)
    return RunFeatures(*caches)


def build_optimizers(model: GlassModel, config: GlassConfig) -> dict[str, torch.optim.Optimizer]:
    """Optimisers of the official code: Adam for the adaptor, AdamW (2x lr) for the discriminator."""
    opts: dict[str, torch.optim.Optimizer] = {}
    adaptor = [p for p in model.projection.parameters() if p.requires_grad]
    if adaptor:
        opts["projection"] = torch.optim.Adam(adaptor, lr=config.learning_rate, weight_decay=1e-5)
    if model.backbone_trainable:
        opts["backbone"] = torch.optim.AdamW(model.backbone.parameters(), lr=config.learning_rate)
    opts["discriminator"] = torch.optim.AdamW(model.discriminator.parameters(), lr=2 * config.learning_rate)
    return opts


def batches_per_epoch(config: GlassConfig, n_images: int) -> int:
    """The official loop stops once the running sample count exceeds the limit (392 -> 50 batches of 8)."""
    available = math.ceil(n_images / config.batch_size)
    return min(available, config.samples_per_epoch // config.batch_size + 1)


def score_of(metrics: dict[str, float]) -> float:
    """Selection score: image AUROC + pixel AUROC (pixel counts 0 when no masks exist)."""
    pixel = metrics["pixel_auroc"]
    return float(metrics["image_auroc"] + (0.0 if math.isnan(pixel) else pixel))


def _loader(dataset: torch.utils.data.Dataset, config: GlassConfig, *, shuffle_seed: int | None = None) -> DataLoader:
    """A loader with its own generator: iterating it never draws from the global torch RNG, so an
    extra evaluation (e.g. the held-out test) cannot change what a resumed run trains next.  On CUDA
    batches come from pinned memory and, unless ``num_workers`` says otherwise, from worker processes
    sized to the CPUs the run was given."""
    cuda = resolve_device(config.device).type == "cuda"
    return DataLoader(
        dataset,
        batch_size=config.batch_size,
        shuffle=shuffle_seed is not None,
        generator=torch.Generator().manual_seed(shuffle_seed or 0),
        num_workers=loader_workers(config.num_workers, cuda=cuda),
        pin_memory=cuda,
    )


def compute_center(run: TrainingRun) -> torch.Tensor | None:
    """Per-position center from normalised normal images; only hypersphere mode (svd=1) uses it."""
    if run.model.svd != 1:
        return None
    if run.features is not None:
        return run.model.center_from_embeddings(run.features.train.batches(run.config.batch_size, run.device))
    images = (batch["image"].to(run.device) for batch in _loader(run.data.train_normal, run.config))
    return run.model.compute_center(images)


def train_epoch(run: TrainingRun, *, progress: bool = False) -> dict[str, float]:
    """One epoch of GAS + LAS training; returns the mean of each logged loss term."""
    config, model = run.config, run.model
    run.data.train.set_epoch(run.epoch)
    center = compute_center(run)
    model.train()
    loader = _loader(run.data.train, config, shuffle_seed=config.seed * 100_003 + run.epoch)
    n_batches = batches_per_epoch(config, len(run.data.train))
    sums = dict.fromkeys(LOSS_KEYS, 0.0)
    bar = _progress_bar(n_batches, f"epoch {run.epoch}/{config.epochs}", enabled=progress)
    for i, batch in enumerate(itertools.islice(loader, n_batches)):
        mask_s = batch["mask_s"].to(run.device, non_blocking=True)
        if run.features is None:
            out = model.training_losses(batch["image"].to(run.device), batch["aug"].to(run.device), mask_s, center=center)
        else:
            true_embed = run.features.train.rows(batch["index"], run.device)
            fake_embed = model.embed(batch["aug"].to(run.device, non_blocking=True))
            out = model.training_losses_from_embeddings(true_embed, fake_embed, mask_s, center=center)
        if not torch.isfinite(out.loss):
            raise TrainingDiverged(f"loss is {out.loss.item()} at epoch {run.epoch}, batch {i + 1}")
        for opt in run.optimizers.values():
            opt.zero_grad(set_to_none=True)
        out.loss.backward()
        for opt in run.optimizers.values():
            opt.step()
        for key in LOSS_KEYS:
            value = getattr(out, key)
            sums[key] += float(value.detach()) if torch.is_tensor(value) else float(value)
        bar.update(1)
        bar.set_postfix(loss=f"{float(out.loss.detach()):.4f}")
    bar.close()
    return {k: v / n_batches for k, v in sums.items()}


def _progress_bar(total: int, desc: str, *, enabled: bool) -> Any:
    """A tqdm bar, imported only when shown: the training path runs on machines without tqdm (a bare
    GPU box, ``benchmarks/gpu_check.py``) as long as nobody asks for a bar."""
    if not enabled:
        return _NoBar()
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, leave=False)


class _NoBar:
    """What a hidden bar needs to answer."""

    def update(self, n: int) -> None:
        pass

    def set_postfix(self, **values: Any) -> None:
        pass

    def close(self) -> None:
        pass


@torch.no_grad()
def evaluate_dataset(
    model: GlassModel,
    dataset: torch.utils.data.Dataset,
    config: GlassConfig,
    device: torch.device,
    *,
    features: FeatureCache | None = None,
) -> Evaluation:
    """Score every image of ``dataset`` (from its cached embeddings when given) and compute the metrics."""
    if features is not None and len(features) != len(dataset):
        raise ValueError(f"the feature cache holds {len(features)} images, the dataset {len(dataset)}")
    model.eval()
    labels, scores, masks, maps = [], [], [], []
    done = 0
    for batch in _loader(dataset, config):
        count, image_shape = len(batch["label"]), tuple(batch["image"].shape[-2:])
        if features is None:
            s, m = model.predict(batch["image"].to(device))
        else:
            s, m = model.predict_embedded(features.rows(range(done, done + count), device), image_shape=image_shape)
        done += count
        scores.append(s.cpu().numpy())
        maps.append(m.cpu().numpy().astype(np.float32))
        labels.append(np.asarray(batch["label"]))
        masks.append(batch["mask"].numpy().astype(np.uint8))
    if not all(np.isfinite(a).all() for a in (*scores, *maps)):
        raise TrainingDiverged("anomaly scores are not finite: training diverged (try a smaller learning_rate)")
    ev = Evaluation(
        metrics={},
        labels=np.concatenate(labels),
        scores=np.concatenate(scores),
        masks=np.concatenate(masks),
        maps=np.concatenate(maps),
    )
    ev.metrics = metrics_lib.evaluate(labels=ev.labels, scores=ev.scores, masks=ev.masks, maps=ev.maps)
    return ev


def _should_evaluate(config: GlassConfig, epoch: int) -> bool:
    return epoch % config.eval_interval == 0 or epoch == config.epochs


def _select(run: TrainingRun, record: EpochRecord) -> None:
    """Keep the best epoch: strictly greater image + pixel AUROC, as the official code; its
    validation scores calibrate the decision thresholds that predict and the export use."""
    ev = record.evaluation
    assert ev is not None
    record.score = score_of(ev.metrics)
    if record.score > run.best_score:
        run.best = {"epoch": record.epoch, **ev.metrics, "score": record.score}
        run.best_state = model_state(run.model, include_backbone=run.model.backbone_trainable)
        run.thresholds = metrics_lib.calibrate_thresholds(labels=ev.labels, scores=ev.scores, masks=ev.masks, maps=ev.maps)
        record.improved = True


def _write_outputs(run: TrainingRun, result: FitResult | None = None) -> None:
    if run.out_dir is None:
        return
    if run.save_checkpoints:
        run.save_checkpoint(run.out_dir / "checkpoints" / "last.pt")
    doc = (result or _partial_result(run)).summary()
    atomic_write_json(run.out_dir / "metrics.json", doc)


def _partial_result(run: TrainingRun) -> FitResult:
    return FitResult(
        config=run.config,
        best=run.best or {},
        history=run.history,
        test=None,
        val_source=run.data.val_source,
        out_dir=run.out_dir,
        startup=run.startup,
        thresholds=run.thresholds,
    )


def _save_best(run: TrainingRun) -> None:
    if run.out_dir is not None and run.save_checkpoints:
        run.save_checkpoint(run.out_dir / "checkpoints" / "best.pt")


def start_run(config: GlassConfig, *, out_dir: Path | None, resume: Path | None) -> TrainingRun:
    """Resolve the config, seed, build model, optimisers and data; restore state when resuming."""
    started = time.perf_counter()
    config = resolve_run_config(config)
    device = resolve_device(config.device)
    seed_everything(config.seed)
    apply_precision(config.precision)
    if device.type == "cpu":
        keep_freed_cpu_memory()
    model = GlassModel.from_config(config).to(device)
    if device.type == "cuda":
        model.backbone.to(memory_format=torch.channels_last)
    data = prepare_data(config, feature_grid=model.feature_grid, val_dir=None if out_dir is None else out_dir / "validation")
    run = TrainingRun(config, model, build_optimizers(model, config), data, device, out_dir)
    if resume is not None:
        _restore(run, load_checkpoint(resume), source=resume)
    cache_started = time.perf_counter()
    if use_feature_cache(config, model):
        run.features = build_run_features(run)
    done = time.perf_counter()
    run.startup = {"startup_seconds": round(done - started, 3), "feature_cache_seconds": round(done - cache_started, 3)}
    if out_dir is not None:
        save_config(config, out_dir / "config.yaml")
    return run


_RESUMABLE_CHANGES = {"epochs", "device", "num_workers", "gas_loop", "feature_cache"}


def _restore(run: TrainingRun, ckpt: Checkpoint, *, source: Path) -> None:
    old, new = ckpt.config.to_dict(), run.config.to_dict()
    changed = sorted(k for k in new if old.get(k) != new[k] and k not in _RESUMABLE_CHANGES)
    if changed:
        raise UserError(
            f"{source}: cannot resume, config differs in '{changed[0]}' ({old.get(changed[0])!r} vs {new[changed[0]]!r})"
        )
    load_model_state(run.model, ckpt.model_state, source=source)
    try:  # a file's data is anyone's: what does not fit these optimisers or generators is one line
        for name, opt in run.optimizers.items():
            opt.load_state_dict(ckpt.optimizer_states[name])
        restore_rng(ckpt.rng_state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise UserError(
            f"{source}: cannot resume, its optimiser or RNG state does not fit this run ({type(exc).__name__})"
        ) from None
    run.epoch, run.history, run.best = ckpt.epoch, list(ckpt.history), ckpt.best
    run.best_state = ckpt.best_model_state
    run.thresholds = ckpt.thresholds


def fit(
    config: GlassConfig,
    *,
    out_dir: str | Path | None = None,
    callbacks: Sequence[Callback] = (),
    resume: str | Path | None = None,
    progress: bool = False,
    save_checkpoints: bool = True,
) -> FitResult:
    """Train GLASS per ``config``; resume from a checkpoint when given.

    ``out_dir`` receives config.yaml, metrics.json and (with ``save_checkpoints``) checkpoints/last.pt
    and best.pt; None writes nothing.  A Ray trial keeps its checkpoints through Tune instead.
    """
    out = Path(out_dir).resolve() if out_dir is not None else None
    run = start_run(config, out_dir=out, resume=Path(resume) if resume is not None else None)
    run.save_checkpoints = save_checkpoints
    _emit(callbacks, "on_fit_start", run)
    while run.epoch < run.config.epochs:
        run_epoch(run, callbacks=callbacks, progress=progress)
    return finish_run(run, callbacks=callbacks)


def run_epoch(run: TrainingRun, *, callbacks: Sequence[Callback] = (), progress: bool = False) -> EpochRecord:
    """One step of :func:`fit`: train the next epoch, evaluate and select when due, write, notify.

    Separate so several runs can advance in lockstep (``glass_tune.training.repeats`` trains one
    configuration with several seeds and reports their mean per epoch).
    """
    run.epoch += 1
    started = time.perf_counter()
    if run.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(run.device)
    losses = train_epoch(run, progress=progress)
    record = EpochRecord(epoch=run.epoch, losses=losses, seconds=0.0)
    if _should_evaluate(run.config, run.epoch):
        val_features = run.features.val if run.features is not None else None
        record.evaluation = evaluate_dataset(run.model, run.data.val, run.config, run.device, features=val_features)
        _select(run, record)
        if record.improved:
            _save_best(run)
    record.best_score, record.best_epoch = run.best_score, int(run.best["epoch"]) if run.best else 0
    record.seconds = time.perf_counter() - started
    record.gpu_peak_mem_mb = peak_gpu_memory_mb(run.device)
    run.history.append(record.row())
    _write_outputs(run)
    _emit(callbacks, "on_epoch_end", record, run)
    return record


def finish_run(run: TrainingRun, *, callbacks: Sequence[Callback] = ()) -> FitResult:
    """The end of :func:`fit`: held-out test at the selected epoch, final outputs, notify."""
    result = FitResult(
        config=run.config,
        best=run.best or {},
        history=run.history,
        test=_held_out_test(run),
        val_source=run.data.val_source,
        out_dir=run.out_dir,
        startup=run.startup,
        thresholds=run.thresholds,
    )
    _write_outputs(run, result)
    _emit(callbacks, "on_fit_end", result, run)
    return result


def _held_out_test(run: TrainingRun) -> dict[str, float] | None:
    """Figures of the selected epoch on data that played no part in selection (when such data
    exists), including the image decisions and the pixel F1 at the calibrated thresholds."""
    if run.data.test is None or run.best_state is None:
        return None
    current = model_state(run.model, include_backbone=run.model.backbone_trainable)
    run.model.load_state_dict(run.best_state, strict=False)
    try:
        ev = evaluate_dataset(run.model, run.data.test, run.config, run.device)
    finally:
        run.model.load_state_dict(current, strict=False)
    return {**ev.metrics, **held_out_decisions(ev, run.thresholds)}


def held_out_decisions(ev: Evaluation, thresholds: dict[str, Any] | None) -> dict[str, float]:
    """Precision, recall, F1 and false-positive rate of the images, and F1 of the pixels, at the stored thresholds."""
    if thresholds is None:
        return {}
    image = metrics_lib.decision_metrics(ev.labels, ev.scores, threshold=thresholds["image_threshold"])
    pixel = metrics_lib.decision_metrics(ev.masks, ev.maps, threshold=thresholds["pixel_threshold"])
    return {**image, "pixel_f1_at_threshold": pixel["f1_at_threshold"]}


def _emit(callbacks: Iterable[Callback], hook: str, *args: Any) -> None:
    for cb in callbacks:
        getattr(cb, hook)(*args)
