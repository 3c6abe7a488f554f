"""Run-environment helpers that change what a trial's worker prints."""

from __future__ import annotations

import subprocess
import sys

FINALIZER_SCRIPT = """
import weakref
from glass_tune.runtime import quiet_exit_in_finalizers
if {install}:
    quiet_exit_in_finalizers()
    quiet_exit_in_finalizers()  # idempotent: a reused Ray worker installs it once per trial

class Thing:
    pass

def raise_exit(_):
    raise SystemExit(1)  # what Ray's SIGTERM handler raises wherever the interpreter is

def raise_error(_):
    raise ValueError("a real bug in a finalizer")

a, b = Thing(), Thing()
ref_a, ref_b = weakref.ref(a, raise_exit), weakref.ref(b, raise_error)
del a, b
print("survived")
"""


def _run(install: bool) -> subprocess.CompletedProcess:
    code = FINALIZER_SCRIPT.format(install=install)
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_exit_inside_a_finalizer_prints_nothing_but_real_errors_still_do():
    plain, quiet = _run(install=False), _run(install=True)
    assert "SystemExit" in plain.stderr and "ValueError" in plain.stderr  # what Python prints by default
    assert quiet.returncode == 0 and "survived" in quiet.stdout
    assert "SystemExit" not in quiet.stderr
    assert "ValueError: a real bug in a finalizer" in quiet.stderr
    assert quiet.stderr.count("Exception ignored") == 1
