"""User-facing errors: anything the user can fix gets one line and exit code 2, never a traceback."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class UserError(Exception):
    """A mistake in the user's input (path, key, value); the CLI prints it on one line and exits 2."""

    exit_code = 2


class ConfigError(UserError):
    """A configuration key or value is unknown, of the wrong type or out of range."""


class DataError(UserError):
    """A dataset folder or file is missing, empty or unreadable."""


def message_line(exc: BaseException) -> str:
    """An exception's message as one line for a UserError: its first non-empty line, else its type.

    For an OSError the OS's own reason (``strerror``: "Permission denied") without the path.
    """
    text = getattr(exc, "strerror", None) or str(exc)
    return next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest choice, or nothing: what error lines append to a typo."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""
