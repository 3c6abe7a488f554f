"""Trials of a search written before the trial index, read from the plain parts of Ray's state.

Ray's ``experiment_state-*.json`` is JSON whose values Ray could not write as JSON are cloudpickled
(``{"_type": "CLOUDPICKLE_FALLBACK", "value": ...}``). Parsed with :func:`json.loads` alone those
stay inert dicts: trial id, status, config, relative folder and last result are plain JSON, and
nothing pickled is ever decoded. What only the pickled parts held is taken from the trial folder:
the config from Ray's ``params.json`` when the state's is pickled, the error from ``error.txt``, and
the checkpoint as the newest one kept (every glass-tune checkpoint carries the trial's selected
epoch, so the newest holds the same selected model as the best-scored one).

The state file's layout (``trial_data`` of ``[trial JSON, run metadata JSON]`` pairs) is Ray's, checked
on Ray 2.51 - 2.60; a folder it does not match gets one line naming what is missing.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from glass_tune.experiment.trial_index import TRIALS_FILE, TrialRecord, newest_checkpoint, report_row, trial_error
from glass_tune.util.errors import UserError

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location

STATE_PREFIX = "experiment_state"  # Ray's experiment_state-<timestamp>.json
PARAMS_FILE = "params.json"  # Ray's JSON logger: the trial's config
_PICKLED = "_type"  # the marker of a value Ray pickled instead of writing it as JSON


def newest_state_file(category_dir: Location) -> Location | None:
    """Ray's newest state file in the folder (the timestamp in its name orders them), or None."""
    names = [n for n in category_dir.names() if n.startswith(STATE_PREFIX) and n.endswith(".json")]
    return category_dir / max(names) if names else None


def read_legacy_trials(category_dir: Location) -> list[TrialRecord]:
    """Every trial Ray's newest state file names, read as plain JSON (nothing unpickled)."""
    state_file = newest_state_file(category_dir)
    if state_file is None:
        raise UserError(f"{category_dir}: no trial index ({TRIALS_FILE}) and no Ray state to read trials from")
    try:
        entries = json.loads(state_file.read_text())["trial_data"]
        pairs = [(json.loads(trial), json.loads(meta)) for trial, meta in entries]
    except (ValueError, KeyError, TypeError):
        raise UserError(f"{state_file}: not a Ray Tune experiment state (expected JSON with trial_data)") from None
    return [_record(category_dir, trial, meta, source=str(state_file)) for trial, meta in pairs]


def _is_plain(value: Any) -> bool:
    return not (isinstance(value, dict) and _PICKLED in value)


def _record(category_dir: Location, trial: dict[str, Any], meta: dict[str, Any], *, source: str) -> TrialRecord:
    trial_id, folder, status = trial.get("trial_id"), trial.get("relative_logdir"), trial.get("status")
    if not all(isinstance(v, str) for v in (trial_id, folder, status)):
        raise UserError(f"{source}: a trial lacks a plain trial_id, status or folder; this experiment cannot be read")
    config = trial.get("config")
    if not isinstance(config, dict) or not _is_plain(config):
        config = _params(category_dir, folder, source=source)
    last_result = meta.get("last_result")
    last_result = report_row(last_result) if isinstance(last_result, dict) and _is_plain(last_result) else {}
    error = trial_error(category_dir, folder) if meta.get("error_filename") else None
    return TrialRecord(
        trial_id=trial_id,
        status=status,
        config=config,
        last_result=last_result,
        error=error,
        checkpoint=None if error else newest_checkpoint(category_dir, folder),
        folder=folder,
    )


def _params(category_dir: Location, folder: str, *, source: str) -> dict[str, Any]:
    """A trial's config from Ray's ``params.json`` when the state holds it only pickled."""
    path = category_dir / folder / PARAMS_FILE
    if not path.is_file():
        raise UserError(f"{source}: trial {folder}'s config is stored pickled only and {path} is missing; it is not read")
    try:
        config = json.loads(path.read_text())
    except ValueError:
        config = None
    if not isinstance(config, dict):
        raise UserError(f"{path}: not a JSON trial config")
    return config
