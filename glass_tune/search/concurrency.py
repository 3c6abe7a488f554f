"""At most K trials at once over the concurrent category searches of one driver (``--max-concurrent-total``).

Each category runs its own Tuner; their searchers share a :class:`TrialSlots` registered under one
key in this process (it is not pickled with them: the driver registers it again on resume).
"""

from __future__ import annotations

import threading


class TrialSlots:
    """A limit on trials running at once across the concurrent category searches of one driver."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._live: set[str] = set()
        self._lock = threading.Lock()

    def take(self, trial_id: str) -> bool:
        with self._lock:
            if trial_id not in self._live and len(self._live) >= self.limit:
                return False
            self._live.add(trial_id)
            return True

    def give(self, trial_id: str) -> None:
        with self._lock:
            self._live.discard(trial_id)


_SLOTS: dict[str, TrialSlots] = {}


def trial_slots(key: str | None) -> TrialSlots | None:
    """The shared limit registered under ``key`` (None: no limit)."""
    return _SLOTS.get(key or "")


def register_total_limit(key: str, limit: int | None) -> None:
    """Share ``limit`` running trials among every search whose searcher has ``slots_key=key``."""
    if limit is None:
        _SLOTS.pop(key, None)
    else:
        _SLOTS[key] = TrialSlots(limit)
