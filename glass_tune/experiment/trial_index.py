"""The trial index: glass-tune's own plain record of a category's trials (``<category>/index/trials.json``).

Ray keeps its trials in ``experiment_state-*.json``, whose values are cloudpickled objects: reading
an experiment through Ray's loader runs whatever code a writer of that folder put there. The driver
therefore writes this index (JSON only) as the search runs, and every read-only command (status,
export, summary, report, predict, dashboard) reads it instead. Only ``tune --resume`` asks Ray to
restore its pickled state. Experiments written before the index are read from the plain parts of
Ray's state (:mod:`glass_tune.experiment.legacy_trials`), never unpickled.

A trial's history is not in the index: Ray's JSON logger keeps it in the trial folder's
``result.json`` (one JSON object per report), read only when plots need it.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from glass_tune.experiment.outcomes import Outcome, trial_outcome
from glass_tune.experiment.protocol import CHECKPOINT_FILE, held_out_of, searched_values
from glass_tune.util.errors import UserError

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location

# In a folder of its own inside the category (and its confirm/ folder): on restore Ray copies the
# category's top-level *.json and *.pkl into its driver staging folder and uploads that copy back at
# every snapshot, which would put a stale index over the live one.
INDEX_DIR = "index"
TRIALS_FILE = f"{INDEX_DIR}/trials.json"
FORMAT = "glass-tune-trials/1"
RESULTS_FILE = "result.json"  # Ray's JSON logger, in each trial folder: one report per line
ERROR_FILE = "error.txt"  # Ray's text of a trial's error, in its folder (Ray also pickles it: never read)
CHECKPOINT_PREFIX = "checkpoint_"  # Ray's checkpoint folders in a trial folder: checkpoint_000003, ...
# Ray's per-report keys that repeat what the index already holds (the whole config) or say nothing to readers
_DROPPED_RESULT_KEYS = ("config",)


@dataclass
class TrialRecord:
    """One Ray trial as readers need it (status, report, config, error), independent of any node."""

    trial_id: str
    status: str  # Ray's (RayStatus)
    config: dict[str, Any]
    last_result: dict[str, Any]
    error: str | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: str | None = None  # the best checkpoint folder, relative to the category folder
    folder: str | None = None  # the trial's folder name in the category

    @property
    def stopped_early(self) -> bool:
        return self.outcome == Outcome.STOPPED

    @property
    def params(self) -> dict[str, Any]:
        """The searched values of this trial."""
        return searched_values(self.config)

    @property
    def held_out(self) -> dict[str, float] | None:
        return held_out_of(self.last_result)

    @property
    def outcome(self) -> Outcome:
        return trial_outcome(self.status, last_result=self.last_result, config=self.config)

    @property
    def duration_s(self) -> float | None:
        """Ray's wall time of the trial so far (``time_total_s`` of the last report)."""
        value = self.last_result.get("time_total_s")
        return None if value is None else float(value)

    def to_json(self) -> dict[str, Any]:
        return {
            "trial_id": self.trial_id,
            "status": str(self.status),
            "config": plain(self.config),
            "last_result": plain(report_row(self.last_result)),
            "error": self.error,
            "checkpoint": self.checkpoint,
            "folder": self.folder,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, source: str) -> TrialRecord:
        try:
            return cls(
                trial_id=str(data["trial_id"]),
                status=str(data["status"]),
                config=dict(data["config"]),
                last_result=dict(data.get("last_result") or {}),
                error=data.get("error"),
                checkpoint=data.get("checkpoint"),
                folder=data.get("folder"),
            )
        except (KeyError, TypeError, ValueError):
            raise UserError(f"{source}: a trial entry is malformed (expected trial_id, status, config)") from None


def plain(value: Any) -> Any:
    """``value`` as JSON can hold it: tuples become lists, numpy scalars numbers, anything else its text."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    item = getattr(value, "item", None)  # numpy and torch scalars
    if callable(item):
        try:
            return plain(item())
        except (TypeError, ValueError):
            pass
    return str(value)


def report_row(result: Mapping[str, Any]) -> dict[str, Any]:
    """A reported result without the keys the index keeps elsewhere (Ray repeats the config in each)."""
    return {k: v for k, v in result.items() if k not in _DROPPED_RESULT_KEYS}


def write_trial_index(category_dir: Location, records: Sequence[TrialRecord]) -> None:
    """Replace the category's index in one write (atomic on a folder, one PUT on object storage)."""
    document = {
        "format": FORMAT,
        "updated_at": datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds"),
        "trials": [r.to_json() for r in records],
    }
    (category_dir / TRIALS_FILE).write_text(json.dumps(document, indent=1))


def read_trial_index(category_dir: Location) -> list[TrialRecord] | None:
    """The category's trials from its index, or None when it has none (a search before the index)."""
    path = category_dir / TRIALS_FILE
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
    except (UnicodeDecodeError, ValueError):
        raise UserError(f"{path}: not a JSON trial index") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT or not isinstance(document.get("trials"), list):
        raise UserError(f"{path}: not a glass-tune trial index (expected format {FORMAT})")
    return [TrialRecord.from_json(entry, source=str(path)) for entry in document["trials"]]


def read_history(category_dir: Location, folder: str | None) -> list[dict[str, Any]]:
    """A trial's reported rows, in order, from Ray's ``result.json`` in its folder (empty when absent).

    A line cut short by a crash mid-write ends the history there.
    """
    if folder is None:
        return []
    path = category_dir / folder / RESULTS_FILE
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            break
        if isinstance(row, dict):
            rows.append(report_row(row))
    return rows


_QUALIFIED_ERROR = re.compile(r"^(?P<name>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Warning)): ?(?P<message>.*)$")


def error_line(text: str | None) -> str:
    """The trial's own error in one line (``ConfigError: ...``) from Ray's ``error.txt`` text.

    Ray writes each failure's traceback there, the cause's ``module.Type: message`` last.
    """
    lines = [line.strip() for line in (text or "").splitlines() if line.strip() and not line.startswith("Failure #")]
    if not lines:
        return "unknown error (see the trial's error.txt)"
    last = lines[-1]
    match = _QUALIFIED_ERROR.match(last)
    if match is None:
        return last
    return f"{match['name'].rsplit('.', 1)[-1]}: {match['message']}"


def trial_error(category_dir: Location, folder: str | None) -> str:
    """The one-line error of an errored trial, from the text Ray wrote into its folder."""
    if folder is not None and (category_dir / folder / ERROR_FILE).is_file():
        return error_line((category_dir / folder / ERROR_FILE).read_bytes().decode("utf-8", errors="replace"))
    return error_line(None)


def newest_checkpoint(category_dir: Location, folder: str) -> str | None:
    """The trial's newest kept checkpoint folder, relative to the category (None when it kept none)."""
    trial_dir = category_dir / folder
    kept = [n for n in trial_dir.names() if n.startswith(CHECKPOINT_PREFIX) and (trial_dir / n / CHECKPOINT_FILE).is_file()]
    return posixpath.join(folder, max(kept)) if kept else None
