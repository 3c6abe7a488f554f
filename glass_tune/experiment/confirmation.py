"""The confirmation stage's record: finalists raced on fresh seeds, their intervals and the verdict.

A search compares each configuration on one seed, and the seed alone moves GLASS's scores by more
than most searched knobs (``benchmarks/results/seed_spread.json``), so the top of a search's table
is partly the luckiest seed. After each category's search, the top ``K`` configurations by the
search objective and the paper default (the space's first starting point) are trained again with
``S`` seeds the search never used (``glass_tune.search.confirmation_runner`` runs them as Ray trials in
``<category>/confirm/``). This module, free of Ray, turns those trials into the decision:

- the **winner** is the finalist with the best mean *validation* objective over the seeds; the
  held-out figures (``test_*``) are reported beside it and never read by any choice here;
- the **verdict** compares the winner with the paper default on the same seeds (a paired
  difference, Student-t 95% interval): it beats the default only when the interval excludes zero;
- the **export** follows the recorded rule (``--confirm-export``): ``best-mean`` (the default)
  exports the winner, the best estimate the runs give, whether or not its interval excludes zero,
  and the verdict says which; ``significant`` exports it only when it beats the default and keeps
  the paper default otherwise. ``benchmarks/search_efficacy.py`` measured both on fresh images:
  at 3 seeds the interval almost never excludes zero, so ``significant`` exported the default in
  every unit and gave up the gains the winners had (benchmarks/README.md).

Files in the category folder: ``finalists.json`` (fixed before confirmation starts, so a resumed
driver races the same finalists on the same seeds and decides by the same export rule) and ``confirmation.json`` (the statistics,
written when every confirmation trial has ended).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any

from glass_tune.experiment.intervals import CONFIDENCE, LABELS, Interval
from glass_tune.experiment.protocol import HELD_OUT_KEYS, Objective
from glass_tune.experiment.results import best_trial
from glass_tune.experiment.trial_index import TrialRecord

if TYPE_CHECKING:
    from glass_tune.experiment.storage import Location

CONFIRM_DIR = "confirm"  # the confirmation's Ray experiment, inside the category folder
FINALISTS_FILE = "finalists.json"
CONFIRMATION_FILE = "confirmation.json"
DEFAULT = "default"  # the paper default's finalist name (the others are named by their search trial)
FINALIST_KEY = "finalist"  # trial-config key of a confirmation trial: which finalist it trains
EXPORT_RULES = ("best-mean", "significant")
DEFAULT_EXPORT_RULE = "best-mean"
LEGACY_EXPORT_RULE = "significant"  # the rule of confirmations recorded before it was a choice
SEED_OFFSET = 1  # confirmation seeds: seed + 1 .. seed + S; the search trains every trial with seed
# (and --repeats adds seed + 1000 k), so these are fresh for S < 1000


def confirm_seeds(seed: int, count: int) -> list[int]:
    """The seeds of the confirmation trials: never one a search trial (or a repeat) trained with."""
    return [seed + SEED_OFFSET + j for j in range(count)]


@dataclass(frozen=True)
class Finalist:
    """One configuration raced in the confirmation: the trial config it trains with (search seed)."""

    name: str  # DEFAULT or the search trial's id
    config: dict[str, Any]
    search_trial: str | None  # the search trial that trained it (the default may have none)
    search_value: float | None  # its search objective value


def choose_finalists(
    trials: Sequence[TrialRecord], *, objective: Objective, default_config: Mapping[str, Any], top: int
) -> list[Finalist]:
    """The paper default first, then the ``top`` best other search trials by the search objective.

    ``default_config`` is the trial config of the paper default; a search trial with the same
    searched values (the space's first starting point) is the default's own search trial.
    """
    searched = list(default_config.get("searched", []))
    ranked: list[TrialRecord] = []
    pool = [t for t in trials if t.error is None]
    while pool and (best := best_trial(pool, objective=objective)) is not None:
        ranked.append(best)
        pool.remove(best)
    own = next((t for t in ranked if _same_values(t.config, default_config, searched)), None)
    finalists = [
        Finalist(
            name=DEFAULT,
            config=dict(own.config if own is not None else default_config),
            search_trial=None if own is None else own.trial_id,
            search_value=None if own is None else float(own.last_result[objective.metric]),
        )
    ]
    for t in [t for t in ranked if t is not own][:top]:
        finalists.append(Finalist(t.trial_id, dict(t.config), t.trial_id, float(t.last_result[objective.metric])))
    return finalists


def _same_values(config: Mapping[str, Any], reference: Mapping[str, Any], keys: Sequence[str]) -> bool:
    def same(a: Any, b: Any) -> bool:
        if isinstance(a, float) or isinstance(b, float):
            return isinstance(a, (int, float)) and isinstance(b, (int, float)) and math.isclose(a, b, rel_tol=1e-9)
        return a == b

    return all(same(config.get(k), reference.get(k)) for k in keys)


def write_finalists(
    category_dir: Location, *, finalists: Sequence[Finalist], seeds: Sequence[int], export_rule: str = DEFAULT_EXPORT_RULE
) -> None:
    doc = {"seeds": list(seeds), "export_rule": export_rule, "finalists": [asdict(f) for f in finalists]}
    (category_dir / FINALISTS_FILE).write_text(json.dumps(doc, indent=1))


def read_export_rule(category_dir: Location) -> str:
    """The export rule fixed with the finalists (a resumed race decides as it was asked to)."""
    path = category_dir / FINALISTS_FILE
    return json.loads(path.read_text()).get("export_rule", LEGACY_EXPORT_RULE) if path.is_file() else DEFAULT_EXPORT_RULE


def read_finalists(category_dir: Location) -> tuple[list[Finalist], list[int]] | None:
    path = category_dir / FINALISTS_FILE
    if not path.is_file():
        return None
    doc = json.loads(path.read_text())
    return [Finalist(**f) for f in doc["finalists"]], list(doc["seeds"])


# --- statistics ----------------------------------------------------------------------------------


@dataclass
class FinalistResult:
    """One finalist's confirmation runs: per seed the validation objective and held-out figures."""

    name: str
    search_trial: str | None
    search_value: float | None
    seeds: list[int]
    validation: list[float]  # per seed (NaN where the run failed)
    held_out: dict[str, list[float]]  # key -> per seed
    trials: list[str | None]  # the confirmation trial per seed
    validation_interval: Interval = field(init=False)
    held_out_intervals: dict[str, Interval] = field(init=False)

    def __post_init__(self) -> None:
        self.validation_interval = Interval.of(self.validation)
        self.held_out_intervals = {k: Interval.of(v) for k, v in self.held_out.items()}


def paired(a: Sequence[float], b: Sequence[float]) -> Interval:
    """The interval of ``a - b`` over the seeds where both are finite (same seed = same split)."""
    return Interval.of([x - y for x, y in zip(a, b, strict=True) if math.isfinite(x) and math.isfinite(y)])


def finalist_results(
    finalists: Sequence[Finalist], *, seeds: Sequence[int], trials: Sequence[TrialRecord], objective: Objective
) -> list[FinalistResult]:
    """Every finalist's runs in seed order, from the confirmation trials (matched by finalist and seed)."""
    by_key = {(t.config.get(FINALIST_KEY), t.config.get("seed")): t for t in trials}
    out = []
    for f in finalists:
        runs = [by_key.get((f.name, s)) for s in seeds]
        done = [t if t is not None and t.status == "TERMINATED" else None for t in runs]
        validation = [_finite(t.last_result.get(objective.metric)) if t else math.nan for t in done]
        held_out = {k: [_finite((t.held_out or {}).get(k)) if t else math.nan for t in done] for k in HELD_OUT_KEYS}
        held_out = {k: v for k, v in held_out.items() if any(math.isfinite(x) for x in v)}
        out.append(
            FinalistResult(
                f.name, f.search_trial, f.search_value, list(seeds), validation, held_out, [t and t.trial_id for t in runs]
            )
        )
    return out


def _finite(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else math.nan


@dataclass
class Verdict:
    """The decision from the finalists' validation runs, and the sentence that says it."""

    winner: str | None  # best mean validation objective
    exported: str | None  # the winner, or (rule "significant") the default unless the winner beats it
    beats_default: bool
    line: str
    export_rule: str = DEFAULT_EXPORT_RULE


def decide(results: Sequence[FinalistResult], *, objective: Objective, export_rule: str = DEFAULT_EXPORT_RULE) -> Verdict:
    """Winner by mean validation objective; the verdict says whether its paired interval against the
    paper default excludes zero. ``best-mean`` exports the winner either way, ``significant`` only
    when it does. Held-out figures are only quoted."""
    if export_rule not in EXPORT_RULES:
        raise ValueError(f"export rule {export_rule!r}: expected one of {', '.join(EXPORT_RULES)}")
    return replace(_decide(results, objective=objective, export_rule=export_rule), export_rule=export_rule)


def _decide(results: Sequence[FinalistResult], *, objective: Objective, export_rule: str) -> Verdict:
    metric = LABELS.get(objective.metric, objective.metric)
    scored = [r for r in results if math.isfinite(r.validation_interval.mean)]
    if not scored:
        return Verdict(None, None, False, "no confirmation run finished: nothing to compare")
    sign = 1 if objective.mode == "max" else -1
    winner = max(scored, key=lambda r: sign * r.validation_interval.mean)
    default = next((r for r in scored if r.name == DEFAULT), None)
    if default is None:
        return Verdict(
            winner.name, winner.name, False, f"winner {winner.name}; the paper default's runs failed, so nothing compares it"
        )
    if winner is default:
        return Verdict(
            DEFAULT,
            DEFAULT,
            False,
            f"the paper default is the best of {len(scored)} finalists ({default.validation_interval.text(unit=metric)}, "
            f"{default.validation_interval.n} seeds): no searched config beats it; exported: the paper default",
        )
    diff = paired(winner.validation, default.validation)
    quoted = _held_out_quote(winner, default)
    if diff.excludes_zero() and sign * diff.mean > 0:
        return Verdict(
            winner.name,
            winner.name,
            True,
            f"winner {winner.name} beats the paper default by {diff.text(signed=True, unit=metric)}, "
            f"{diff.n} paired seeds{quoted}; exported: the winner",
        )
    if export_rule == "significant":
        exported, said = DEFAULT, "the paper default"
    else:
        exported, said = winner.name, f"{winner.name}, the best mean, not a proven gain"
    return Verdict(
        winner.name,
        exported,
        False,
        f"no config is distinguishable from the paper default at this budget (best finalist {winner.name}: "
        f"{diff.text(signed=True, unit=metric)}, {diff.n} paired seeds{quoted}); exported: {said}",
    )


def _held_out_quote(winner: FinalistResult, default: FinalistResult) -> str:
    """The held-out image AUROC difference, when the runs have a held-out half."""
    key = "image_auroc"
    if key not in winner.held_out or key not in default.held_out:
        return ""
    return f"; {LABELS[key]} {paired(winner.held_out[key], default.held_out[key]).text(signed=True)}"


def confirmation_record(
    *, category: str, results: Sequence[FinalistResult], verdict: Verdict, objective: Objective
) -> dict[str, Any]:
    """What ``confirmation.json`` holds: per finalist the runs, intervals and paired differences."""
    default = next((r for r in results if r.name == DEFAULT), None)
    rows = []
    for r in results:
        row = asdict(r)
        if default is not None and r is not default:
            row["vs_default"] = {
                "validation": asdict(paired(r.validation, default.validation)),
                **{k: asdict(paired(v, default.held_out[k])) for k, v in r.held_out.items() if k in default.held_out},
            }
        rows.append(row)
    return {
        "category": category,
        "objective": {"metric": objective.metric, "mode": objective.mode},
        "confidence": CONFIDENCE,
        "seeds": results[0].seeds if results else [],
        "finalists": rows,
        **asdict(verdict),
    }


def write_confirmation(category_dir: Location, record: Mapping[str, Any]) -> None:
    (category_dir / CONFIRMATION_FILE).write_text(json.dumps(_json_safe(record), indent=1))


def read_confirmation(category_dir: Location) -> dict[str, Any] | None:
    """The category's ``confirmation.json``, or None when it had no confirmation (yet)."""
    path = category_dir / CONFIRMATION_FILE
    return json.loads(path.read_text()) if path.is_file() else None


def _json_safe(value: Any) -> Any:
    """NaN as null: strict JSON readers (browsers, jq) reject NaN."""
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value
