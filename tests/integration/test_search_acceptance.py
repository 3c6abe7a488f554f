"""Issue 8 acceptance with no options beyond data and category: a hypersphere class trains with
svd=1 and its study samples radius_quantile; a manifold class trains with svd=0 and its study
never samples it. A tiny MVTec-layout copy names the synthetic washer ``bottle`` (an official
hypersphere class); weave is judged manifold by the distribution judge."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import optuna
import pytest

from glass_tune.cli.main import main
from tests.helpers import TINY, write_tiny_config
from tests.helpers.study import study_storage

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def experiment(synthetic_root: Path, tmp_path_factory):
    import ray

    root = tmp_path_factory.mktemp("mvtec-names")
    shutil.copytree(synthetic_root / "washer", root / "bottle")
    shutil.copytree(synthetic_root / "weave", root / "weave")
    config = root / "tiny.yaml"  # model size only: no svd, no search settings
    write_tiny_config(config)
    storage = tmp_path_factory.mktemp("runs")
    try:
        code = main(
            [
                "tune",
                "--data",
                str(root),
                "--category",
                "bottle",
                "weave",
                "--config",
                str(config),
                "--storage",
                str(storage),
                "--name",
                "acc",
                "--samples",
                "3",
                "--epochs",
                "1",
            ]
        )
    finally:
        ray.shutdown()
    assert code == 0
    return storage / "acc"


def _study(experiment: Path, category: str) -> optuna.Study:
    return optuna.load_study(study_name=f"acc/{category}", storage=study_storage(experiment))


def _trial_svds(experiment: Path, category: str) -> set[int]:
    return {json.loads(p.read_text())["svd"] for p in (experiment / category).glob("trial_*/params.json")}


def test_hypersphere_class_trains_with_svd_1_and_searches_radius_quantile(experiment):
    trials = _study(experiment, "bottle").trials
    assert len(trials) == 3 and all("radius_quantile" in t.params for t in trials)
    assert _trial_svds(experiment, "bottle") == {1}


def test_manifold_class_trains_with_svd_0_and_never_samples_radius_quantile(experiment):
    trials = _study(experiment, "weave").trials
    assert len(trials) == 3 and not any("radius_quantile" in t.params for t in trials)
    assert _trial_svds(experiment, "weave") == {0}
    noise = [t.params["gaussian_noise_std"] for t in trials]
    dim = TINY["target_embed_dim"]
    assert all(0.5 - 1e-9 <= n * dim**0.5 <= 1.0 + 1e-9 for n in noise)  # the manifold shell's live range
