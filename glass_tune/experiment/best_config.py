"""The exported trial of a category as a config with its provenance, and ``best_config.yaml``, its file.

The driver writes ``<category>/best_config.yaml`` when a category's search (and confirmation) ends;
``glass-tune export`` renders the same record in other formats (``glass_tune.export.config_formats``).
The exported trial is the one :meth:`~glass_tune.experiment.view.CategoryView.exported_trial` names:
after a confirmation stage the exported finalist's best confirmation run, else the best search trial.
"""

from __future__ import annotations

from typing import Any

from glass_tune.config.schema import FIELD_NAMES, config_yaml, from_mapping
from glass_tune.experiment.protocol import Objective, best_of, thresholds_of
from glass_tune.experiment.results import trial_held_out
from glass_tune.experiment.storage import Location
from glass_tune.experiment.trial_index import TrialRecord
from glass_tune.experiment.view import CategoryView, ExportedTrial
from glass_tune.util.runtime import versions

BEST_CONFIG_FILE = "best_config.yaml"  # in the category folder, written when the category finishes


def exported_record(category: CategoryView, *, trials: list[TrialRecord] | None = None) -> dict[str, Any]:
    """The exported trial of one category (``CategoryView.exported_trial``) as config, provenance and
    checkpoint path; after a confirmation stage the verdict is in the provenance."""
    exported = category.exported_trial(trials=trials)
    record = _trial_record(exported, category_dir=category.location, objective=category.objective)
    if exported.confirmation is not None:
        record["provenance"]["confirmation"] = _confirmation_provenance(exported.confirmation)
    return record


def _confirmation_provenance(confirmation: dict[str, Any]) -> dict[str, Any]:
    exported = confirmation["exported"]
    row = next(r for r in confirmation["finalists"] if r["name"] == exported)
    return {
        "verdict": confirmation["line"],
        "exported": exported,
        "winner": confirmation["winner"],
        "beats_default": confirmation["beats_default"],
        "search_trial": row["search_trial"],
        "seeds": confirmation["seeds"],
        "validation": row["validation_interval"],
        "held_out": row["held_out_intervals"],
        "vs_default": row.get("vs_default"),
    }


def _trial_record(exported: ExportedTrial, *, category_dir: Location, objective: Objective) -> dict[str, Any]:
    """The exported trial (of the Ray experiment in ``exported.folder``) as a config with its provenance."""
    trial, folder = exported.trial, exported.folder
    config = from_mapping({k: v for k, v in trial.config.items() if k in FIELD_NAMES}, source=str(folder))
    last = trial.last_result
    checkpoint = exported.checkpoint
    provenance = {
        "experiment": str(category_dir.parent),
        "category": config.category,
        "trial_id": trial.trial_id,
        "objective": {"metric": objective.metric, "mode": objective.mode, "value": last.get(objective.metric)},
        "metrics": best_of(last),
        "searched_params": trial.params,
        "seed": config.seed,
        "val_source": last.get("val_source", "test"),
        "held_out_test": trial_held_out(trial=trial, category_dir=folder),
        "thresholds": thresholds_of(last),
        "checkpoint": None if checkpoint is None else str(checkpoint),
        "versions": versions(),
    }
    return {"config": config, "provenance": provenance}


def write_best_config(*, category_dir: Location, objective: Objective, trials: list[TrialRecord] | None = None) -> Location:
    """Export the category's best config as YAML next to the Ray experiment (end of every search)."""
    record = exported_record(CategoryView(category_dir, objective), trials=trials)
    target = category_dir / BEST_CONFIG_FILE
    target.write_text(config_yaml(record["config"], record["provenance"]))
    return target
