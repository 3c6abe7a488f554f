"""The one poll-until-deadline loop of the tests (servers starting, trials reporting, files appearing)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

import pytest

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T], timeout: float, interval: float = 0.5, *, describe: Callable[[], str] = lambda: ""
) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and return that.

    Fails the test after ``timeout`` seconds with ``describe()`` (a log tail, say). A predicate may
    itself assert, to fail early (a server that exited, say).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"not reached within {timeout:g} s. {describe()}")
        time.sleep(interval)
