"""The ``glass-tune`` command line: parses flags and calls the library; ``python -m glass_tune.cli`` too."""

from glass_tune.cli.main import main

__all__ = ["main"]
