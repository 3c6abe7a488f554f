"""The training loop end to end on CPU: outputs, selection, determinism, exact resume, svd=1."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from glass_tune.config.schema import load_config
from glass_tune.model import GlassModel
from glass_tune.training.console import ConsoleCallback
from glass_tune.training.loop import Callback, batches_per_epoch, fit, score_of
from glass_tune.training.tensorboard_log import TensorBoardCallback


def test_official_epoch_limit_is_fifty_batches_of_eight(tiny_config):
    cfg = tiny_config.replace(batch_size=8, samples_per_epoch=392)
    assert batches_per_epoch(cfg, 1000) == 50
    assert batches_per_epoch(cfg, 60) == 8  # a small set is used whole
    assert batches_per_epoch(tiny_config, 60) == 3  # 8 samples in batches of 4: stops once 12 > 8


def test_score_ignores_missing_pixel_auroc():
    assert score_of({"image_auroc": 0.9, "pixel_auroc": math.nan}) == pytest.approx(0.9)
    assert score_of({"image_auroc": 0.9, "pixel_auroc": 0.8}) == pytest.approx(1.7)


def test_fit_writes_config_metrics_checkpoints_and_tensorboard(tiny_config, tmp_path):
    out = tmp_path / "run"
    result = fit(tiny_config, out_dir=out, callbacks=[TensorBoardCallback(out / "tb")])
    doc = json.loads((out / "metrics.json").read_text())
    assert set(doc) >= {"best", "history", "config", "seed", "val_source", "versions"}
    assert set(doc["best"]) >= {"epoch", "image_auroc", "pixel_auroc", "aupro", "image_f1"}
    assert [row["epoch"] for row in doc["history"]] == [1, 2]
    assert all({"image_auroc", "pixel_auroc", "aupro", "image_f1", "loss"} <= set(row) for row in doc["history"])
    best_row = max(doc["history"], key=lambda r: r["score"])
    assert doc["best"]["epoch"] == best_row["epoch"]
    assert result.best["image_auroc"] == best_row["image_auroc"]
    assert doc["seed"] == tiny_config.seed and doc["versions"]["torch"]
    # the resolved config is a loadable config
    resolved = load_config(out / "config.yaml")
    assert resolved.category == "weave" and resolved.svd in (0, 1)
    assert (out / "checkpoints" / "last.pt").is_file() and (out / "checkpoints" / "best.pt").is_file()
    acc = EventAccumulator(str(out / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    assert {"auroc/image", "auroc/pixel", "aupro", "loss/total", "loss/las_focal", "score"} <= tags
    assert [e.step for e in acc.Scalars("auroc/image")] == [1, 2]
    assert len(acc.Scalars("roc/image")) == 101


@pytest.mark.integration  # several complete training runs compared end to end
def test_same_seed_same_metrics_on_cpu(tiny_config):
    first = fit(tiny_config.replace(epochs=1))
    second = fit(tiny_config.replace(epochs=1))
    assert first.history[0]["loss"] == second.history[0]["loss"]
    assert first.best == second.best
    third = fit(tiny_config.replace(epochs=1, seed=1))
    assert third.history[0]["loss"] != first.history[0]["loss"]


def _drop_time(history):
    """History rows without wall time, NaN (r_t in manifold mode) made comparable."""
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items() if k != "seconds"} for row in history
    ]


@pytest.mark.integration  # several complete training runs compared end to end
def test_resume_continues_exactly(tiny_config, tmp_path):
    straight = fit(tiny_config.replace(epochs=3))
    fit(tiny_config.replace(epochs=2), out_dir=tmp_path / "a")
    resumed = fit(tiny_config.replace(epochs=3), out_dir=tmp_path / "a", resume=tmp_path / "a" / "checkpoints" / "last.pt")
    assert _drop_time(resumed.history) == _drop_time(straight.history)
    assert resumed.best == straight.best


def test_resume_refuses_a_different_config_or_state_that_does_not_fit(tiny_config, tmp_path):
    from dataclasses import replace

    from glass_tune.training.checkpoint import load_checkpoint, save_checkpoint
    from glass_tune.util.errors import UserError

    last = tmp_path / "a" / "checkpoints" / "last.pt"
    fit(tiny_config.replace(epochs=1), out_dir=tmp_path / "a")
    with pytest.raises(UserError, match="config differs in 'step'"):
        fit(tiny_config.replace(step=3), resume=last)
    ckpt = load_checkpoint(last)
    for broken in (
        replace(ckpt, optimizer_states={**ckpt.optimizer_states, "discriminator": {"state": {}, "param_groups": []}}),
        replace(ckpt, rng_state={"torch": torch.zeros(3)}),
    ):  # plain data, but not this run's: one line, not a traceback
        save_checkpoint(tmp_path / "b.pt", broken)
        with pytest.raises(UserError, match=r"b\.pt: cannot resume, its optimiser or RNG state does not fit this run"):
            fit(tiny_config.replace(epochs=2), resume=tmp_path / "b.pt")


class _CenterSpy(Callback):
    def __init__(self):
        self.batches = []

    def on_fit_start(self, run):
        original = run.model.compute_center

        def spy(batches):
            seen = list(batches)
            self.batches.extend(seen)
            return original(iter(seen))

        run.model.compute_center = spy


def test_hypersphere_center_uses_normalized_train_images(tiny_config):
    spy = _CenterSpy()
    result = fit(tiny_config.replace(svd=1, epochs=1), callbacks=[spy])
    images = torch.cat(spy.batches)
    assert images.shape[0] == 60  # every training image, once per epoch
    assert images.min() < -0.5  # ImageNet-normalised, not [0, 1] (the anomalib bug)
    assert not math.isnan(result.history[0]["r_t"])


def test_manifold_mode_skips_the_center(tiny_config):
    spy = _CenterSpy()
    fit(tiny_config.replace(svd=0, epochs=1), callbacks=[spy])
    assert spy.batches == []


def test_auto_svd_is_resolved_before_training(tiny_config, tmp_path):
    fit(tiny_config.replace(svd="auto", epochs=1), out_dir=tmp_path)
    saved = yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert saved["svd"] in (0, 1)


def test_eval_interval_evaluates_every_nth_epoch_and_the_last(tiny_config):
    result = fit(tiny_config.replace(epochs=3, eval_interval=2))
    assert ["image_auroc" in row for row in result.history] == [False, True, True]


def test_nan_loss_raises_training_diverged(tiny_config, monkeypatch):
    from glass_tune.training.loop import TrainingDiverged

    original = GlassModel.training_losses

    def poisoned(self, *args, **kwargs):
        out = original(self, *args, **kwargs)
        out.loss = out.loss * float("nan")
        return out

    monkeypatch.setattr(GlassModel, "training_losses", poisoned)
    with pytest.raises(TrainingDiverged, match="loss is nan at epoch 1"):
        fit(tiny_config.replace(epochs=1))


def test_console_prints_one_line_per_epoch_unless_quiet(tiny_config, capsys):
    from glass_tune.util.logs import setup_console

    setup_console()
    fit(tiny_config, callbacks=[ConsoleCallback()])
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch")]
    assert len(lines) == 2 and "image AUROC" in lines[0]
    setup_console(verbosity=-1)
    try:
        fit(tiny_config.replace(epochs=1), callbacks=[ConsoleCallback()])
        assert not [l for l in capsys.readouterr().out.splitlines() if l.startswith("epoch")]
    finally:
        setup_console()


def test_evaluate_dataset_scores_are_max_patch_scores(tiny_config):
    from glass_tune.training.loop import evaluate_dataset
    from glass_tune.training.run_inputs import prepare_data, resolve_run_config

    cfg = resolve_run_config(tiny_config)
    model = GlassModel.from_config(cfg)
    data = prepare_data(cfg, feature_grid=model.feature_grid)
    ev = evaluate_dataset(model, data.val, cfg, torch.device("cpu"))
    assert ev.maps.shape == (len(data.val), 64, 64)
    assert set(np.unique(ev.masks)) <= {0, 1}
    assert ev.labels.sum() > 0 and (ev.labels == 0).sum() > 0
    assert 0.0 <= ev.metrics["image_auroc"] <= 1.0


@pytest.mark.integration  # several complete training runs compared end to end
def test_held_out_figures_are_those_of_the_selected_epoch(tiny_config, tmp_path, monkeypatch):
    from itertools import count

    from glass_tune.training.checkpoint import load_checkpoint
    from glass_tune.training.loop import evaluate_dataset
    from glass_tune.training.run_inputs import prepare_data

    falling = count(10, -1)  # every later epoch scores lower: the first epoch is selected
    monkeypatch.setattr("glass_tune.training.loop.score_of", lambda metrics: float(next(falling)))
    result = fit(tiny_config.replace(epochs=3, val_source="split"), out_dir=tmp_path)
    assert result.best["epoch"] == 1 and result.test is not None
    best = load_checkpoint(tmp_path / "checkpoints" / "best.pt")
    assert best.epoch == 1
    model = GlassModel.from_config(best.config)
    model.load_state_dict(best.model_state, strict=False)
    data = prepare_data(best.config, feature_grid=model.feature_grid)
    again = evaluate_dataset(model, data.test, best.config, torch.device("cpu"))
    assert again.metrics == {k: result.test[k] for k in again.metrics}  # the run adds decision figures at its threshold
