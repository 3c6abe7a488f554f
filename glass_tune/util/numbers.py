"""How numbers are written for people (console lines, status, summaries, the report): one place, two styles.

Metrics (AUROC, AUPRO, F1, scores) get a fixed 4 decimals so columns line up and runs compare at a
glance; other values (searched parameters, counts) get 4 significant digits, since a learning rate
of 1e-4 printed with 4 decimals would read 0.0001.
"""

from __future__ import annotations

import math
from typing import Any

METRIC_DECIMALS = 4
SIGNIFICANT_DIGITS = 4


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def metric_text(value: Any, *, missing: str = "n/a") -> str:
    """A metric with 4 decimals; ``missing`` for None or NaN; anything else as it is."""
    if _missing(value):
        return missing
    return f"{value:.{METRIC_DECIMALS}f}" if isinstance(value, float) else str(value)


def value_text(value: Any, *, missing: str = "") -> str:
    """A non-metric value with 4 significant digits; ``missing`` for None or NaN; anything else as it is."""
    if _missing(value):
        return missing
    return f"{value:.{SIGNIFICANT_DIGITS}g}" if isinstance(value, float) else str(value)
