"""One-line notices about how a run deviates from, or was fitted to, the official protocol.

They go to the ``glass_tune`` logger (the CLI prints it on stderr), each distinct message once per
process: a config is resolved several times per run (train resolves, then fit resolves again).
"""

from __future__ import annotations

import logging

logger = logging.getLogger("glass_tune")
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


def console_logging() -> None:
    """Print the ``glass_tune`` logger's INFO and above on stderr (idempotent; only this logger)."""
    if any(getattr(h, "_glass_tune", False) for h in logger.handlers):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("glass-tune: %(message)s"))
    handler._glass_tune = True  # type: ignore[attr-defined]
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
