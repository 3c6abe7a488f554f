"""The search record (``search.yaml``): what a search was asked to do, written by the driver once Ray
and the storage are known to work, read back by ``--resume`` and by every reader (the objective, the
categories, when it started).

Plain values only (the options, the space and the base config as the search turned them into
dicts): reading a record never needs ``glass_tune.search``; the driver turns a record back into its
options and space (``glass_tune.search.plan``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import yaml

from glass_tune.config.yaml_values import parse_yaml
from glass_tune.experiment.protocol import DEFAULT_METRIC, DEFAULT_MODE, Objective
from glass_tune.util.errors import UserError

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location

SEARCH_FILE = "search.yaml"  # in the experiment folder


def write_search_record(
    experiment: Location,
    *,
    options: Mapping[str, Any],
    started_at: float,
    categories: Sequence[str],
    space: Mapping[str, Any],
    base_config: Mapping[str, Any],
) -> None:
    """Write ``search.yaml``: the search options, when it started, its categories, space and base config."""
    record = {
        "options": dict(options),
        "started_at": timestamp_text(started_at),
        "categories": list(categories),
        "space": dict(space),
        "base_config": dict(base_config),
    }
    (experiment / SEARCH_FILE).write_text(yaml.safe_dump(record, sort_keys=False))


def read_search_record(*, experiment: Location) -> dict[str, Any]:
    """The raw ``search.yaml`` of an experiment (options, categories, space, base config)."""
    path = experiment / SEARCH_FILE
    if not path.is_file():
        raise UserError(f"{experiment}: no glass-tune experiment there (missing {SEARCH_FILE})")
    return parse_yaml(path.read_text(), source=str(path))


def timestamp_text(seconds: float) -> str:
    """A moment as search.yaml records it: ISO 8601 with the local zone, e.g. 2026-12-04T21:10:00+00:00."""
    return datetime.fromtimestamp(seconds, tz=timezone.utc).astimezone().isoformat(timespec="seconds")


def record_time(value: Any) -> float | None:
    """Seconds since the epoch of a recorded time: ISO 8601 text (YAML may have parsed it already) or,
    in experiments written before 0.2, a raw epoch float."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).timestamp()


def record_objective(record: Mapping[str, Any]) -> Objective:
    """The metric and mode a search record's space optimised (defaults for records without a space)."""
    space = record.get("space") or {}
    return Objective(metric=space.get("metric", DEFAULT_METRIC), mode=space.get("mode", DEFAULT_MODE))
