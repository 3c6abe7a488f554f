"""``benchmarks/gpu_check.py``'s driver: phase caps, errors, skips and the packed-throughput window,
without training (the CPU dry run of the whole script is ``tests/integration/test_gpu_check.py``)."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks import gpu_check


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
