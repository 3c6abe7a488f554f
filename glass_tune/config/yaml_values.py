"""The one YAML reader of glass-tune: config files, search spaces and ``--set`` values alike.

YAML 1.1 (PyYAML) reads ``1e-4`` as a string and only ``1.0e-4`` as a number; people write the
former, so the loader here reads both as floats.  Everything that parses YAML goes through
:func:`parse_yaml`, so a value means the same in a ``--config`` file, a space file and ``--set``.
A ``--config`` or ``--space`` argument names a file or a bundled one by one rule (:func:`find_yaml`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from glass_tune.util.errors import ConfigError, did_you_mean


@dataclass(frozen=True)
class YamlFile:
    """A YAML file found by :func:`find_yaml`: its name (bundled name or file stem), what errors call it, its bytes."""

    name: str
    source: str
    data: bytes


class _Loader(yaml.SafeLoader):
    """SafeLoader (no arbitrary objects) that also reads exponent floats without a dot."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def parse_yaml(text: str, *, source: str) -> Any:
    """Parse YAML ``text``; a syntax error becomes one line naming ``source`` and the line."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise ConfigError(f"{source}: not valid YAML{where}") from None


def decode_yaml_bytes(data: bytes, *, source: str) -> Any:
    """Parse a YAML file's bytes (UTF-8), naming ``source`` in every error."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{source}: not a UTF-8 text file") from None
    return parse_yaml(text, source=source)


def is_int(value: Any) -> bool:
    """An integer that is not a bool (``True == 1`` in Python, not in a config)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float that is not a bool."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def bundled_names(package: str) -> list[str]:
    """The names of the YAML files bundled in ``package`` (``cpu_demo``, ``default``, ...)."""
    return sorted(f.name.removesuffix(".yaml") for f in resources.files(package).iterdir() if f.name.endswith(".yaml"))


def find_yaml(name_or_path: str | Path, *, package: str, kind: str, bundled: str) -> YamlFile:
    """A ``kind`` file by path, or one bundled in ``package`` by name (``--config cpu_demo``, ``--space wide``).

    One rule for both: a path when it names a file or has a suffix or a directory separator (``x.yaml``,
    ``runs/x``), else the name of a file ``<name>.yaml`` bundled in ``package``. ``bundled`` is what the
    bundled files are called in errors (``profile``, ``space``).
    """
    text = str(name_or_path)
    path = Path(text)
    names = ", ".join(bundled_names(package))
    if path.is_file() or path.suffix or "/" in text or "\\" in text:
        if not path.is_file():
            raise ConfigError(f"{path}: {kind} file not found (bundled {bundled}s: {names})")
        return YamlFile(name=path.stem, source=str(path), data=path.read_bytes())
    entry = resources.files(package) / f"{text}.yaml"
    if not entry.is_file():
        close = did_you_mean(text, bundled_names(package))
        raise ConfigError(f"{text}: neither a {kind} file nor a bundled {bundled}{close} ({names})")
    return YamlFile(name=text, source=str(entry), data=entry.read_bytes())
