"""The two number styles: metrics with fixed decimals, other values with significant digits."""

from __future__ import annotations

import math

from glass_tune.util.numbers import metric_text, value_text


def test_metrics_have_four_decimals_and_a_placeholder_when_missing():
    assert metric_text(0.98125) == "0.9812" and metric_text(1.0) == "1.0000"
    assert metric_text(None) == "n/a" and metric_text(math.nan, missing="") == ""
    assert metric_text(3) == "3" and metric_text("weave") == "weave"


def test_other_values_keep_four_significant_digits():
    assert value_text(1e-4) == "0.0001" and value_text(0.000123456) == "0.0001235" and value_text(1234.5) == "1234"
    assert value_text(None) == "" and value_text(math.nan, missing="nan") == "nan" and value_text(5) == "5"
