"""Run-environment helpers that change what a trial's worker prints."""

from __future__ import annotations

import sys
import weakref

from glass_tune.util.runtime import quiet_exit_in_finalizers


class _Thing:
    pass


def _finalize_with(callback) -> None:
    thing = _Thing()
    ref = weakref.ref(thing, callback)
    del thing  # the callback runs now, where no exception can propagate
    assert ref() is None


def _raise_exit(_: object) -> None:
    raise SystemExit(1)  # what Ray's SIGTERM handler raises wherever the interpreter is


def _raise_error(_: object) -> None:
    raise ValueError("a real bug in a finalizer")


def test_exit_inside_a_finalizer_is_dropped_but_real_errors_still_reach_the_hook(monkeypatch):
    seen: list[BaseException] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda info: seen.append(info.exc_value))
    _finalize_with(_raise_exit)
    assert [type(e) for e in seen] == [SystemExit]  # what Python reports without the filter

    seen.clear()
    quiet_exit_in_finalizers()
    quiet_exit_in_finalizers()  # idempotent: a reused Ray worker calls it once per trial
    _finalize_with(_raise_exit)
    _finalize_with(_raise_error)
    assert [type(e) for e in seen] == [ValueError]  # passed on once, not twice


def test_cpu_allocator_setting_applies_on_glibc_and_is_a_no_op_elsewhere(monkeypatch):
    import platform

    from glass_tune.util import runtime

    monkeypatch.setattr(runtime, "_allocator_tuned", False)
    expected = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"
    assert runtime.keep_freed_cpu_memory() is expected
    assert runtime.keep_freed_cpu_memory() is expected  # idempotent
    monkeypatch.setattr(runtime, "_allocator_tuned", False)
    monkeypatch.setattr(runtime.sys, "platform", "darwin")
    assert runtime.keep_freed_cpu_memory() is False
