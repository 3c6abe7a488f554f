"""``benchmarks/gpu_check.py``: the prepared GPU check, kept working by a CPU dry run.

The lent GPU machine has torch, timm and the scientific stack but no Ray, Optuna, tqdm or
huggingface_hub; the dry run runs with those four made unimportable (stub packages that raise
ImportError ahead of the real ones on ``PYTHONPATH``), so a module-level import of any of them on
the training path fails here first.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import gpu_check

REPO = Path(__file__).resolve().parents[2]
ABSENT_ON_GPU_MACHINE = ("ray", "optuna", "tqdm", "huggingface_hub")
TRAINING_PATH = ("glass_tune.training.loop", "glass_tune.model", "glass_tune.data", "benchmarks.gpu_check")


def _python(code_or_args: list[str], *, pythonpath: list[Path], timeout: float, **env: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(map(str, pythonpath)), **env}
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=REPO, env=environment, capture_output=True, text=True, timeout=timeout
    )


def _stubs(folder: Path) -> Path:
    """Packages named like the missing ones whose import fails, as on the GPU machine."""
    for name in ABSENT_ON_GPU_MACHINE:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(f"raise ImportError('{name} is not installed on the GPU machine')\n")
    return folder


@pytest.mark.integration
@pytest.mark.timeout(120)
def test_training_path_imports_neither_ray_nor_optuna() -> None:
    code = f"import importlib, sys\nfor m in {TRAINING_PATH!r}: importlib.import_module(m)\n"
    code += "print(sorted({n.split('.')[0] for n in sys.modules} & {'ray', 'optuna'}))"
    done = _python(["-c", code], pythonpath=[REPO], timeout=110)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


@pytest.mark.integration
@pytest.mark.timeout(900)
def test_cpu_dry_run_without_the_packages_a_gpu_machine_lacks(tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["benchmarks/gpu_check.py", "--device", "cpu", "--profile", "tiny", "--out", str(out)]
    done = _python(args, pythonpath=[_stubs(tmp_path / "stubs"), REPO], timeout=880, OMP_NUM_THREADS="1")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    doc = json.loads((out / "gpu_check.json").read_text())
    assert {n: p["status"] for n, p in doc["phases"].items()} == dict.fromkeys(gpu_check.PHASES, "ok")
    assert doc["config"]["pre_trained"] is True and doc["config"]["input_shape"] == [64, 64]
    assert doc["environment"]["device"] == "cpu"

    timing = doc["phases"]["timing"]
    assert set(timing["runs"]) == {"defaults/fp32", "reference/fp32", "defaults/bf16", "reference/bf16"}
    for row in timing["runs"].values():
        assert set(row["seconds"]) == {"backbone", "gas", "las", "rest", "evaluation"}
        assert all(v > 0 for v in row["seconds"].values()) and row["train_images_per_second"] > 0
        assert row["gpu_peak_mem_mb"] is None  # CPU
    assert timing["runs"]["defaults/fp32"]["measure"]["feature_cache"] is True
    assert timing["runs"]["reference/fp32"]["measure"]["feature_cache"] is False
    assert set(timing["defaults_over_reference"]) == {"fp32", "bf16"}

    profile = doc["phases"]["profile"]
    assert profile["aten_ops_per_batch"] > 0 and profile["gpu_busy_fraction"] is None

    auroc = doc["phases"]["auroc"]["runs"]
    assert [len(auroc[p]["history"]) for p in ("fp32", "bf16")] == [2, 2]
    assert set(auroc["bf16"]["max_abs_diff_to_fp32"]) == {"image_auroc", "pixel_auroc"}

    packing = doc["phases"]["packing"]
    for n in (1, 2):
        row = packing[f"x{n}"]
        assert row["failed"] == 0 and row["oom"] is False and row["images_per_second"] > 0
        assert [w["fraction"] for w in row["workers"]] == [1 / n] * n
        assert all(w["memory_cap_set"] is False for w in row["workers"])  # no CUDA: the guard is a no-op

    assert set(doc["phases"]["compile"]["runs"]) == {"defaults/fp32", "reference/fp32"}
    log = (out / "gpu_check.log").read_text()
    assert "packing x2:" in log and log.rstrip().splitlines()[-1].split("] ")[1].startswith("done in")
