"""Means with Student-t intervals, and the finalists table of a confirmation record (plain data).

Kept apart from :mod:`glass_tune.experiment.confirmation` (which reads trial records) so that the
summary writer in :mod:`glass_tune.experiment.results` can render a record without an import circle.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

CONFIDENCE = 0.95
LABELS = {
    "best_score": "validation score",
    "objective": "validation objective",
    "image_auroc": "held-out image AUROC",
    "pixel_auroc": "held-out pixel AUROC",
    "aupro": "held-out AUPRO",
    "image_f1": "held-out image F1",
}


@dataclass(frozen=True)
class Interval:
    """A mean and its Student-t interval (``low``/``high`` are NaN below two values)."""

    mean: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float], confidence: float = CONFIDENCE) -> Interval:
        from scipy import stats

        arr = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
        if arr.size == 0:
            return cls(math.nan, math.nan, math.nan, 0)
        mean = float(arr.mean())
        if arr.size < 2:
            return cls(mean, math.nan, math.nan, 1)
        sem = float(arr.std(ddof=1) / math.sqrt(arr.size))
        half = float(stats.t.ppf(0.5 + confidence / 2, df=arr.size - 1)) * sem
        return cls(mean, mean - half, mean + half, int(arr.size))

    def text(self, *, signed: bool = False, unit: str = "") -> str:
        """``0.912 (95% CI 0.880..0.944)``; ``signed`` writes ``+0.031 (95% CI +0.012..+0.050)``,
        ``unit`` goes after the mean."""
        f = "{:+.3f}" if signed else "{:.3f}"
        mean = f.format(self.mean) + (f" {unit}" if unit else "")
        if math.isnan(self.low):
            return mean
        return f"{mean} (95% CI {f.format(self.low)}..{f.format(self.high)})"

    def excludes_zero(self) -> bool:
        return self.low > 0 or self.high < 0


def finalists_table(record: Mapping[str, Any]) -> list[str]:
    """Markdown rows of the finalists (mean and 95% interval of the validation objective and the
    held-out image AUROC, paired difference to the default), for the console and ``summary.md``."""
    metric = LABELS.get(record["objective"]["metric"], record["objective"]["metric"])
    lines = [
        f"| finalist | search value | {metric} | vs default | held-out image AUROC | vs default |",
        "|---|---|---|---|---|---|",
    ]
    for row in record["finalists"]:
        vs = row.get("vs_default") or {}
        held = (row.get("held_out_intervals") or {}).get("image_auroc")
        search = row.get("search_value")
        lines.append(
            "| "
            + " | ".join(
                [
                    row["name"] + (" (winner)" if row["name"] == record.get("winner") else ""),
                    "" if search is None else f"{search:.4g}",
                    _cell(row.get("validation_interval")),
                    _cell(vs.get("validation"), signed=True),
                    _cell(held),
                    _cell(vs.get("image_auroc"), signed=True),
                ]
            )
            + " |"
        )
    return lines


def _cell(interval: Mapping[str, Any] | None, *, signed: bool = False) -> str:
    if not interval or interval.get("mean") is None:
        return ""
    return interval_from(interval).text(signed=signed)


def interval_from(record: Mapping[str, Any]) -> Interval:
    """An :class:`Interval` read back from JSON (null bounds are NaN)."""
    return Interval(**{k: math.nan if record[k] is None else record[k] for k in ("mean", "low", "high", "n")})
