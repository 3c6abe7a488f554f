"""One-line notices about how a run deviates from, or was fitted to, the official protocol.

They go to the ``glass_tune`` logger (``glass_tune.util.logs`` shows it on the console), each distinct message once per
process: a config is resolved several times per run (train resolves, then fit resolves again).
"""

from __future__ import annotations

import logging

from glass_tune.util.logs import NOTICES_LOGGER

logger = logging.getLogger(NOTICES_LOGGER)
_seen: set[str] = set()


def _once(level: int, message: str) -> None:
    if message not in _seen:
        _seen.add(message)
        logger.log(level, message)


def inform(message: str) -> None:
    """A choice the run made for the user (e.g. which svd mode and why)."""
    _once(logging.INFO, message)


def warn(message: str) -> None:
    """A departure from the official protocol that changes results."""
    _once(logging.WARNING, message)
