"""``benchmarks/gpu_check.py``: the prepared GPU check, kept working by a CPU dry run.

The lent GPU machine has torch, timm and the scientific stack but no Ray, Optuna, tqdm or
huggingface_hub; the dry run runs with those four made unimportable (stub packages that raise
ImportError ahead of the real ones on ``PYTHONPATH``), so a module-level import of any of them on
the training path fails here first.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks import gpu_check

REPO = Path(__file__).resolve().parents[1]
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


# --- the driver's bookkeeping, without training ----------------------------------------------------


@pytest.fixture
def check(tmp_path: Path, tiny_config) -> gpu_check.Check:
    return gpu_check.Check(tmp_path, gpu_check.torch.device("cpu"), gpu_check.PROFILES["tiny"], tiny_config, tmp_path, 100.0)


def _saved(check: gpu_check.Check) -> dict[str, Any]:
    return json.loads((check.out / "gpu_check.json").read_text())


def test_a_phase_past_its_cap_is_cut_and_keeps_what_it_measured(check, monkeypatch) -> None:
    def slow(check: gpu_check.Check, phase: dict[str, Any]) -> None:
        phase["first"] = 1.0
        check.save()
        time.sleep(30)

    check.doc = {"phases": {}}
    check.plan = dataclasses.replace(check.plan, caps={"timing": 0.5})
    monkeypatch.setattr(gpu_check, "MIN_PHASE_SECONDS", 0.1)
    monkeypatch.setitem(gpu_check.PHASE_FUNCTIONS, "timing", slow)
    started = time.perf_counter()
    gpu_check.run_phase(check, "timing")
    assert time.perf_counter() - started < 5
    phase = _saved(check)["phases"]["timing"]
    assert phase["status"] == "timed_out" and phase["first"] == 1.0


def test_a_failing_phase_is_recorded_and_a_phase_without_budget_skipped(check, monkeypatch) -> None:
    def broken(check: gpu_check.Check, phase: dict[str, Any]) -> None:
        raise RuntimeError("CUDA error: something")

    check.doc = {"phases": {}}
    monkeypatch.setitem(gpu_check.PHASE_FUNCTIONS, "profile", broken)
    gpu_check.run_phase(check, "profile")
    check.budget = check.elapsed + 1.0  # less than MIN_PHASE_SECONDS left
    gpu_check.run_phase(check, "auroc")
    phases = _saved(check)["phases"]
    assert phases["profile"]["status"] == "error" and "CUDA error: something" in phases["profile"]["reason"]
    assert "RuntimeError" in phases["profile"]["traceback"]
    assert phases["auroc"]["status"] == "skipped"
    assert "profile: error" in (check.out / "gpu_check.log").read_text()


def test_packed_throughput_counts_all_images_over_the_shared_window() -> None:
    workers = [
        {"returncode": 0, "counted_images": 100, "counted_start": 10.0, "counted_end": 20.0, "images_per_second": 10.0},
        {"returncode": 0, "counted_images": 50, "counted_start": 15.0, "counted_end": 25.0, "images_per_second": 5.0},
        {"returncode": -9, "oom": True},
    ]
    row = gpu_check._aggregate(workers)
    assert row["images_per_second"] == 10.0  # 150 images over 15 s
    assert row["sum_of_process_rates"] == 15.0
    assert row["oom"] is True and row["failed"] == 1
