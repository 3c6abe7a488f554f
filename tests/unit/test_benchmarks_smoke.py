"""Smoke tests of the benchmark scripts: ``epoch_time.py`` (one tiny batch, every component timed),
``synthetic_validation.py`` (its ranking and selection on made-up epochs) and ``tune_search.py`` (the
command line of the search benchmarks' timed search)."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import torch

from glass_tune.config.schema import GlassConfig

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _script(name: str) -> Iterator[ModuleType]:
    """A benchmark script as a module (``benchmarks/`` is not a package)."""
    spec = importlib.util.spec_from_file_location(f"{name}_benchmark", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file executes
    spec.loader.exec_module(module)
    yield module
    del sys.modules[spec.name]


@pytest.fixture(scope="module")
def epoch_time() -> Iterator[ModuleType]:
    yield from _script("epoch_time")


@pytest.fixture(scope="module")
def synthetic_validation() -> Iterator[ModuleType]:
    yield from _script("synthetic_validation")


@pytest.fixture(scope="module")
def tune_search() -> Iterator[ModuleType]:
    yield from _script("tune_search")


@pytest.mark.timeout(60)
def test_one_tiny_batch_times_every_component(epoch_time: ModuleType, tiny_config: GlassConfig) -> None:
    result = epoch_time.measure(tiny_config, batches=1, warmup=0)
    doc = json.loads(json.dumps({**epoch_time.environment(torch.device("cpu")), "profiles": {"tiny": result}}))

    assert {"device", "torch", "torch_threads", "cpu_count"} <= set(doc)
    assert doc["device"] == "cpu"
    tiny = doc["profiles"]["tiny"]
    assert tiny["batch_size"] == 4 and tiny["grid"] == [8, 8] and tiny["backbone_trainable"] is True
    assert tiny["measured"]["batches"] == 1 and tiny["measured"]["warmup_batches"] == 0
    assert tiny["measured"]["las_images"] >= 4
    assert set(tiny["seconds_per_batch"]) == {"backbone_forward", "backbone_backward", "gas", "las", "step_rest"}
    epoch = tiny["epoch"]
    assert set(epoch["seconds"]) == set(epoch_time.COMPONENTS)
    assert all(v > 0 for v in epoch["seconds"].values()), epoch["seconds"]
    assert all(v > 0 for v in tiny["seconds_per_batch"].values()), tiny["seconds_per_batch"]
    assert epoch["batches"] == 3 and epoch["extrapolated"] is True  # samples_per_epoch 8, batch 4 -> 3 batches
    assert epoch["total_seconds"] == pytest.approx(
        epoch["train_seconds"] + epoch["seconds"]["evaluation"] + epoch["seconds"]["metrics"], rel=1e-3
    )
    assert tiny["evaluation"]["images"] > 0
    assert tiny["gas_to_backbone"] > 0


@pytest.mark.timeout(60)
def test_fast_and_reference_side_by_side_with_ratios(epoch_time: ModuleType, tiny_config: GlassConfig, tmp_path) -> None:
    """The comparison on a frozen tiny profile: both variants measured, the cache only in ``defaults``."""
    profile = epoch_time.Profile("tiny_frozen", None, train_images=8, frozen=True)
    config = epoch_time.prepare_profile(profile, tiny_config.replace(data_root=str(tmp_path), category="weave"), tmp_path)
    result = json.loads(json.dumps(epoch_time.compare(config, batches=1, warmup=0)))
    fast, reference = result["variants"]["defaults"], result["variants"]["reference"]
    assert fast["config"]["gas_loop"] == "hidden" and reference["config"]["gas_loop"] == "reference"
    assert fast["feature_cache"] is True and reference["feature_cache"] is False
    assert fast["startup"]["feature_cache_seconds"] > 0 == reference["startup"]["feature_cache_seconds"]
    assert fast["backbone_trainable"] is False and fast["epoch"]["seconds"]["backbone_backward"] == 0
    assert {"gas", "backbone_forward", "evaluation", "train", "total"} <= set(result["ratio"])
    assert all(v > 0 for v in result["ratio"].values())


def test_benchmark_ranks_and_selects_by_each_validation(synthetic_validation: ModuleType) -> None:
    """Three configs whose synthetic objective orders them one way and the real one the other way."""

    def metrics(score: float) -> dict[str, float]:
        return {"image_auroc": score, "pixel_auroc": score, "aupro": score, "image_f1": score}

    units = [
        {
            "category": "weave",
            "index": i,
            "svd": 0,
            "params": {},
            "epochs": [
                {"epoch": 1, "synthetic": metrics(0.1 * i), "real": metrics(0.45), "held_out": metrics(0.3 - 0.1 * i)},
                {"epoch": 2, "synthetic": metrics(0.0), "real": metrics(0.6 - 0.1 * i), "held_out": metrics(0.4 - 0.1 * i)},
            ],
        }
        for i in range(3)
    ]
    summary = synthetic_validation.summarise(units)["weave"]
    assert summary["spearman_synthetic_vs_held_out"] == pytest.approx(-1.0)
    assert summary["spearman_real_vs_held_out"] == pytest.approx(1.0)
    assert summary["selected_by_synthetic"]["config"] == 2 and summary["selected_by_synthetic"]["epoch"] == 1
    assert summary["selected_by_real"]["config"] == 0 and summary["selected_by_real"]["epoch"] == 2
    assert summary["selected_by_real"]["image_auroc"] == pytest.approx(0.4)


def test_timed_search_is_one_fifo_search_one_trial_at_a_time(tune_search: ModuleType, monkeypatch, tmp_path) -> None:
    """The command line both search benchmarks time, as glass-tune parses it (nothing runs)."""
    from glass_tune.cli.main import build_parser

    argvs: list[list[str]] = []
    monkeypatch.setattr(tune_search, "cli_main", lambda argv: argvs.append(argv) or 0)
    monkeypatch.setattr(tune_search.ray, "shutdown", lambda: None)
    seconds = tune_search.timed_search(
        tmp_path / "c.yaml", "cpu_smoke", trials=3, epochs=2, threads=2, storage=tmp_path, name="n", extra=["--seed", "0"]
    )
    args = build_parser().parse_args(argvs[0])
    assert seconds >= 0 and args.command == "tune" and args.space == "cpu_smoke" and args.name == "n"
    assert (args.samples, args.epochs, args.scheduler, args.max_concurrent, args.cpus_per_trial) == (3, 2, "fifo", 1, 2)
    assert args.confirm_top == 0 and args.seed == 0 and args.storage == str(tmp_path)  # the searched trials only
