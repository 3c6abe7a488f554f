"""glass-tune's cache folder: the built-in synthetic data, the study journal's local copy, benchmark data."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "GLASS_TUNE_CACHE"


def cache_dir() -> Path:
    """``$GLASS_TUNE_CACHE`` or ``~/.cache/glass-tune``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser().resolve() if env else Path.home() / ".cache" / "glass-tune"
