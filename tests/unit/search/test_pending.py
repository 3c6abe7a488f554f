"""Ray may hold as many trials pending as the cluster has slots for them (declared GPUs included)."""

from __future__ import annotations

import pytest

from glass_tune.search.pending import PENDING_ENV, allow_pending, cluster_slots, pending_limit


def test_slots_follow_the_scarcer_resource():
    head = {"CPU": 8.0, "GPU": 2.0}
    assert cluster_slots(head, cpus_per_trial=1, gpus_per_trial=0.25) == 8  # 2 / 0.25 exactly, not 7.99
    assert cluster_slots(head, cpus_per_trial=2, gpus_per_trial=0.25) == 4
    assert cluster_slots(head, cpus_per_trial=1, gpus_per_trial=0.3) == 6
    assert cluster_slots({"CPU": 2.0}, cpus_per_trial=1, gpus_per_trial=0) == 2
    assert cluster_slots({"CPU": 0.5}, cpus_per_trial=1, gpus_per_trial=0) == 1  # never 0


def test_the_limit_never_exceeds_the_trials_or_a_concurrency_limit():
    assert pending_limit(8, samples=32, max_concurrent=None, max_concurrent_total=None) == 8
    assert pending_limit(8, samples=3, max_concurrent=None, max_concurrent_total=None) == 3
    assert pending_limit(8, samples=32, max_concurrent=2, max_concurrent_total=None) == 2
    assert pending_limit(8, samples=32, max_concurrent=None, max_concurrent_total=5) == 5


def test_a_value_the_user_set_wins(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(PENDING_ENV, raising=False)
    assert allow_pending(8) == "8"
    monkeypatch.setenv(PENDING_ENV, "auto")
    assert allow_pending(8) == "auto"
