"""The on-disk protocol of a search: what a trial receives beside its GlassConfig, what it reports, and the trial base.

The driver (``glass_tune.search``) writes the trial config and the trial base, the trainable
(``trainables/glass.py``) reads them and writes the reports, and the readers (``experiment/results.py``,
the trial index, the report, the export, ``predict``) read the reports back from ``trials.json`` and
``result.json``: one module below all of them for the keys, so writers and readers agree without
importing ``search/``, and old experiments stay readable (renaming a key's value here breaks them).
Ray keeps its own result keys the same way, in one low module (``ray/tune/result.py``).

The search's base config is not taken on trust from the trial's config dict: Ray loses it when it
restores an experiment whose state is younger than its first snapshot.  The driver writes the
category's trial constants to ``<category>/search_base.json`` (:data:`TRIAL_BASE_FILE`) before Ray
starts; every trial reads it and refuses (an errored trial with a one-line reason) a config that is
not that base plus the searched values (:func:`trial_values`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from glass_tune.config.schema import FIELD_NAMES, GlassConfig, from_mapping
from glass_tune.util.errors import ConfigError

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location

# --- received: trial-config keys outside GlassConfig ----------------------------------------------
CHECKPOINT_EVERY_KEY = "checkpoint_every"  # checkpoint every N evaluations (and on improvement)
SEARCHED_KEY = "searched"  # names of the searched parameters (hparams summary, trial params)
REPEATS_KEY = "repeats"  # K seeds per configuration, in lockstep
SCORE_RULE_KEY = "objective"  # the trial's score rule, "best" or "smoothed" (glass_tune.experiment.score_rules)

# --- reported, every evaluation and once more at the end ------------------------------------------
BEST_PREFIX = "best_"  # the best epoch so far: best_score, best_epoch, best_<metric>
HELD_OUT_PREFIX = "test_"  # the last report carries the held-out figures as test_<key>
HELD_OUT_KEYS = ("image_auroc", "pixel_auroc", "aupro", "image_f1")
# held-out decisions at the thresholds calibrated on validation (glass_tune.training.loop.held_out_decisions)
DECISION_KEYS = ("precision", "recall", "f1_at_threshold", "false_positive_rate", "pixel_f1_at_threshold")
# the calibrated thresholds and their rules, in the last report (glass_tune.training.metrics.calibrate_thresholds)
THRESHOLD_KEYS = ("image_threshold", "pixel_threshold", "image_rule", "pixel_rule")
BEST_KEYS = ("score", "epoch", *HELD_OUT_KEYS)
RULED_SCORE_KEY = "objective"  # the trial's score under its score rule; a smoothed search optimises it
DEFAULT_METRIC = BEST_PREFIX + "score"  # what ASHA and Optuna see unless the space names another key
DEFAULT_MODE = "max"

CHECKPOINT_FILE = "checkpoint.pt"  # what a trial's Ray checkpoint folder holds
VARIED_KEY = "varied"  # trial-base key: fields that differ per trial besides the searched ones (confirmation: seed)
TRIAL_BASE_FILE = "search_base.json"  # in the category folder, by the driver; not trial_*: that names trial folders


@dataclass(frozen=True)
class Objective:
    """Which reported key a search optimises, and in which direction (from the space file).

    Ray pickles it with a search's callbacks (``glass_tune.util.legacy_names``: it was
    ``glass_tune.experiment.results.Objective``).
    """

    metric: str = DEFAULT_METRIC
    mode: str = DEFAULT_MODE

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` beats ``b``."""
        return a > b if self.mode == "max" else a < b


def held_out_report(test: Mapping[str, float] | None) -> dict[str, float]:
    """The held-out figures under their reported names (``test_*``): what the trainable reports and a
    tracker logs for a plain training run."""
    return {f"{HELD_OUT_PREFIX}{k}": v for k, v in (test or {}).items()}


def thresholds_report(thresholds: Mapping[str, Any] | None) -> dict[str, Any]:
    """The calibrated thresholds under their reported names (as they are: no prefix)."""
    return {k: thresholds[k] for k in THRESHOLD_KEYS if k in (thresholds or {})}


def held_out_of(last_result: Mapping[str, Any] | None) -> dict[str, float] | None:
    """The held-out figures a final report carries (None if it never came)."""
    last = last_result or {}
    figures = {k: last[HELD_OUT_PREFIX + k] for k in (*HELD_OUT_KEYS, *DECISION_KEYS) if HELD_OUT_PREFIX + k in last}
    return figures or None


def thresholds_of(last_result: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The calibrated thresholds a final report carries (None if it never came or predates them)."""
    return thresholds_report(last_result) or None


def best_of(last_result: Mapping[str, Any] | None) -> dict[str, Any]:
    """The best epoch's figures a report carries, by their plain names (score, epoch, ...)."""
    last = last_result or {}
    return {k: last.get(f"{BEST_PREFIX}{k}") for k in BEST_KEYS}


def searched_values(trial_config: Mapping[str, Any]) -> dict[str, Any]:
    """The searched parameters' values in a trial config."""
    return {k: trial_config[k] for k in trial_config.get(SEARCHED_KEY, ()) if k in trial_config}


# --- the trial base --------------------------------------------------------------------------------


def write_trial_base(category_dir: Location, base: dict[str, Any]) -> None:
    """Record what every trial of the category receives besides its suggestion (before Ray starts)."""
    (category_dir / TRIAL_BASE_FILE).write_text(json.dumps(base, indent=1, sort_keys=True))


def read_trial_base(category_dir: Location) -> dict[str, Any]:
    return json.loads((category_dir / TRIAL_BASE_FILE).read_text())


def trial_values(trial_config: dict[str, Any], base: dict[str, Any]) -> tuple[GlassConfig, dict[str, Any]]:
    """The trial's GlassConfig (the base plus its searched values) and the base's other settings.

    A config that lacks base keys or contradicts the base outside the searched keys (and those the
    base names as ``varied``: the confirmation's seed) is refused.  A
    missing field whose base value is GlassConfig's default is no contradiction: the trial's config
    is the same either way (a trial Ray restores from an experiment started before the field existed).
    """
    defaults = GlassConfig()
    missing = [k for k in base if k not in trial_config and not (k in FIELD_NAMES and base[k] == getattr(defaults, k))]
    if missing:
        named = ", ".join(missing[:4]) + (", ..." if len(missing) > 4 else "")
        raise ConfigError(
            f"trial config lacks {len(missing)} of the search's {len(base)} base keys ({named}): "
            "refused rather than trained on GlassConfig defaults"
        )
    searched = {k: trial_config[k] for k in [*base[SEARCHED_KEY], *base.get(VARIED_KEY, [])] if k in trial_config}
    expected = from_mapping({k: v for k, v in {**base, **searched}.items() if k in FIELD_NAMES}, source=TRIAL_BASE_FILE)
    got = from_mapping({k: v for k, v in trial_config.items() if k in FIELD_NAMES}, source="trial config")
    settings = {k: v for k, v in base.items() if k not in FIELD_NAMES}
    differ = [k for k in FIELD_NAMES if getattr(got, k) != getattr(expected, k)]
    differ += [k for k, v in settings.items() if json.loads(json.dumps(trial_config[k])) != v]  # tuples: lists
    if differ:
        key = differ[0]
        raise ConfigError(
            f"trial config {key}={trial_config[key]!r} differs from the search's base ({key}={base[key]!r} in "
            f"{TRIAL_BASE_FILE}) and {key} is not searched: refused"
        )
    return expected, settings
