"""What glass-tune says while it works goes through ``logging``, so ``-q`` and ``-v`` can tune it.

Progress lines and results (INFO) go to stdout exactly as plain lines; warnings and errors go to
stderr (``warning: ...``), and so do the protocol notices of ``glass_tune.util.notices`` (``glass-tune:
...``, e.g. which svd a category got and why), so that stdout holds only progress and results;
``-v`` adds DEBUG lines, ``-q`` keeps only warnings and errors.  What a command *produces* (an exported config on stdout, a status table, scores) is its
output, not a log line, and is printed regardless.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

LOGGER_NAME = "glass_tune"
NOTICES_LOGGER = "glass_tune.util.notices"
logger = logging.getLogger(LOGGER_NAME)


def _to_stderr(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING or record.name == NOTICES_LOGGER


class _ConsoleHandler(logging.Handler):
    """Looks up ``sys.stdout``/``sys.stderr`` per record, so redirected streams (tests, jobs) get it."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            stream = sys.stderr if _to_stderr(record) else sys.stdout
            stream.write(self.format(record) + "\n")
            stream.flush()
        except Exception:  # logging must never take the command down
            self.handleError(record)


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {text}"
        return f"glass-tune: {text}" if record.name == NOTICES_LOGGER else text


def setup_console(*, verbosity: int = 0) -> None:
    """Route the ``glass_tune`` logger to the console: -1 quiet, 0 normal, 1 verbose (idempotent)."""
    level = logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO
    if not any(isinstance(h, _ConsoleHandler) for h in logger.handlers):
        handler = _ConsoleHandler()
        handler.setFormatter(_Formatter())
        logger.addHandler(handler)
    logger.setLevel(level)


def get_logger(module: str) -> logging.Logger:
    """The logger of a glass_tune module (a child of the one the console shows)."""
    return logging.getLogger(module if module.startswith(LOGGER_NAME) else f"{LOGGER_NAME}.{module}")


@contextmanager
def quieted(name: str, *, level: int = logging.ERROR) -> Iterator[None]:
    """Raise another library's logger to ``level`` for a block (restored afterwards).

    For library messages that are normal in glass-tune's use, e.g. Ray's experiment analysis warning
    about trials that have reported nothing yet, which is every pending trial of a running search.
    """
    target = logging.getLogger(name)
    before = target.level
    target.setLevel(max(level, before))
    try:
        yield
    finally:
        target.setLevel(before)
