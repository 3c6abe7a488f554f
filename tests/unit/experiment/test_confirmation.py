"""The confirmation stage's decisions (no Ray): finalists, intervals, the verdict and what is exported."""

from __future__ import annotations

import copy
import json
import math

import pytest

from glass_tune.experiment.confirmation import (
    DEFAULT,
    FINALIST_KEY,
    choose_finalists,
    confirm_seeds,
    confirmation_record,
    decide,
    finalist_results,
    read_confirmation,
    read_export_rule,
    write_confirmation,
    write_finalists,
)
from glass_tune.experiment.intervals import Interval, finalists_table
from glass_tune.experiment.protocol import Objective
from glass_tune.experiment.storage import resolve
from glass_tune.experiment.trial_index import TrialRecord
from glass_tune.search.confirmation_runner import FixedTrials, split_common, trial_configs
from glass_tune.training.repeats import SEED_STRIDE

OBJ = Objective()  # best_score, max
BASE = {"seed": 0, "epochs": 2, "searched": ["step"], "step": 20}


def _search_trial(trial_id: str, step: int, value: float, *, test: float = 0.5, error: str | None = None) -> TrialRecord:
    config = {**BASE, "step": step}
    return TrialRecord(
        trial_id, "ERROR" if error else "TERMINATED", config, {"best_score": value, "test_image_auroc": test}, error
    )


def _confirm_trial(finalist: str, seed: int, value: float, test: float) -> TrialRecord:
    config = {**BASE, FINALIST_KEY: finalist, "seed": seed}
    return TrialRecord(f"{finalist}-{seed}", "TERMINATED", config, {"best_score": value, "epoch": 2, "test_image_auroc": test})


def test_interval_is_the_student_t_interval():
    got = Interval.of([1.0, 2.0, 3.0])
    half = 4.302652729911275 * 1.0 / math.sqrt(3)  # t(0.975, df=2) * s / sqrt(n)
    assert (got.mean, got.n) == (2.0, 3)
    assert got.low == pytest.approx(2.0 - half) and got.high == pytest.approx(2.0 + half)
    one = Interval.of([0.7, math.nan])
    assert one.n == 1 and one.mean == 0.7 and math.isnan(one.low)
    assert Interval(0.031, 0.012, 0.050, 3).text(signed=True, unit="score") == "+0.031 score (95% CI +0.012..+0.050)"


def test_confirmation_seeds_are_never_search_seeds():
    seeds = confirm_seeds(7, 3)
    assert seeds == [8, 9, 10]
    assert 7 not in seeds and all((s - 7) % SEED_STRIDE for s in seeds)  # nor a --repeats seed


def test_finalists_are_the_default_then_the_best_others():
    trials = [
        _search_trial("d", 20, 1.2),  # the paper default's own search trial
        _search_trial("a", 10, 1.9),
        _search_trial("b", 12, 1.5),
        _search_trial("c", 14, 1.7),
        _search_trial("e", 16, 9.0, error="diverged"),
    ]
    finalists = choose_finalists(trials, objective=OBJ, default_config={**BASE, "step": 20}, top=2)
    assert [f.name for f in finalists] == [DEFAULT, "a", "c"]
    assert finalists[0].search_trial == "d" and finalists[0].search_value == 1.2
    low = choose_finalists(trials, objective=Objective("best_score", "min"), default_config={**BASE, "step": 20}, top=1)
    assert [f.name for f in low] == [DEFAULT, "b"]
    # a default the search never trained (no starting point) is raced from its config alone
    alone = choose_finalists(trials[1:], objective=OBJ, default_config={**BASE, "step": 20}, top=1)
    assert alone[0].search_trial is None and alone[0].config["step"] == 20 and [f.name for f in alone] == [DEFAULT, "a"]


def test_trial_configs_pair_every_finalist_with_every_seed():
    finalists = choose_finalists([_search_trial("a", 10, 1.9)], objective=OBJ, default_config=BASE, top=1)
    configs = trial_configs(finalists, [1, 2])
    assert [(c[FINALIST_KEY], c["seed"], c["step"], c["repeats"]) for c in configs] == [
        (DEFAULT, 1, 20, 1),
        ("a", 1, 10, 1),
        (DEFAULT, 2, 20, 1),
        ("a", 2, 10, 1),
    ]
    common, suggested = split_common(configs)
    assert common == {"epochs": 2, "searched": ["step"], "repeats": 1}
    assert suggested[1] == {"step": 10, "seed": 1, FINALIST_KEY: "a"}
    assert all({**common, **s} == c for s, c in zip(suggested, configs, strict=True))


def test_fixed_trials_hand_out_each_config_once_and_survive_a_save(tmp_path):
    searcher = FixedTrials([{"x": 1}, {"x": 2}], metric="best_score", mode="max")
    assert searcher.suggest("t1") == {"x": 1}
    searcher.save(str(tmp_path / "s.pkl"))
    restored = FixedTrials([], metric="best_score", mode="max")
    restored.restore(str(tmp_path / "s.pkl"))
    assert restored.suggest("t1") == {"x": 1}  # a trial asked again gets its own config
    assert restored.suggest("t2") == {"x": 2}
    assert restored.suggest("t3") == FixedTrials.FINISHED


def _race(default: list[tuple[float, float]], other: list[tuple[float, float]], *, export_rule: str = "best-mean"):
    finalists = choose_finalists(
        [_search_trial("d", 20, 1.0), _search_trial("a", 10, 1.1)], objective=OBJ, default_config=BASE, top=1
    )
    seeds = [1, 2, 3]
    trials = [_confirm_trial(DEFAULT, s, v, t) for s, (v, t) in zip(seeds, default, strict=True)]
    trials += [_confirm_trial("a", s, v, t) for s, (v, t) in zip(seeds, other, strict=True)]
    results = finalist_results(finalists, seeds=seeds, trials=trials, objective=OBJ)
    return results, decide(results, objective=OBJ, export_rule=export_rule)


def test_a_consistently_better_finalist_beats_the_default_and_is_exported():
    results, verdict = _race([(1.50, 0.80), (1.60, 0.82), (1.40, 0.79)], [(1.60, 0.90), (1.71, 0.93), (1.49, 0.88)])
    assert verdict.winner == verdict.exported == "a" and verdict.beats_default
    assert verdict.line.startswith("winner a beats the paper default by +0.100 validation score (95% CI ")
    assert "3 paired seeds" in verdict.line and "held-out image AUROC +0.100" in verdict.line
    assert results[1].validation == [1.60, 1.71, 1.49]


NOISY_LEAD = ([(1.50, 0.8), (1.60, 0.8), (1.40, 0.8)], [(1.80, 0.8), (1.40, 0.8), (1.45, 0.8)])


def test_a_noisy_lead_is_not_distinguishable_and_is_exported_as_the_best_mean():
    _, verdict = _race(*NOISY_LEAD)
    assert verdict.winner == verdict.exported == "a" and not verdict.beats_default
    assert verdict.export_rule == "best-mean"
    assert verdict.line.startswith("no config is distinguishable from the paper default at this budget (best finalist a: +0.050")
    assert verdict.line.endswith("exported: a, the best mean, not a proven gain")


def test_the_significant_rule_keeps_the_default_for_a_noisy_lead():
    _, verdict = _race(*NOISY_LEAD, export_rule="significant")
    assert verdict.winner == "a" and verdict.exported == DEFAULT and not verdict.beats_default
    assert verdict.line.endswith("exported: the paper default")


def test_the_significant_rule_exports_a_winner_that_beats_the_default():
    better = [(1.60, 0.90), (1.71, 0.93), (1.49, 0.88)]
    _, verdict = _race([(1.50, 0.80), (1.60, 0.82), (1.40, 0.79)], better, export_rule="significant")
    assert verdict.winner == verdict.exported == "a" and verdict.beats_default


def test_an_unknown_export_rule_is_refused():
    with pytest.raises(ValueError, match="export rule 'safe'"):
        _race(*NOISY_LEAD, export_rule="safe")


def test_the_export_rule_is_fixed_with_the_finalists(tmp_path):
    folder = resolve(str(tmp_path))
    assert read_export_rule(folder) == "best-mean"  # nothing fixed yet: the current default
    write_finalists(folder, finalists=[], seeds=[1, 2], export_rule="significant")
    assert read_export_rule(folder) == "significant"
    doc = json.loads((tmp_path / "finalists.json").read_text())
    del doc["export_rule"]  # a race fixed before the rule was a choice decides as it did then
    (tmp_path / "finalists.json").write_text(json.dumps(doc))
    assert read_export_rule(folder) == "significant"


def test_the_default_as_best_finalist_is_exported():
    _, verdict = _race([(1.5, 0.8), (1.6, 0.8), (1.4, 0.8)], [(1.4, 0.9), (1.5, 0.9), (1.3, 0.9)])
    assert verdict.winner == verdict.exported == DEFAULT
    assert verdict.line.startswith("the paper default is the best of 2 finalists (1.500 validation score (95% CI")


def test_selection_never_reads_held_out_figures():
    """Perturbing only the held-out figures (search and confirmation) changes no choice."""
    search = [_search_trial("d", 20, 1.0, test=0.6), _search_trial("a", 10, 1.3, test=0.5), _search_trial("b", 12, 1.2, test=0.7)]
    seeds = [1, 2, 3]
    values = {DEFAULT: [1.5, 1.6, 1.4], "a": [1.62, 1.7, 1.52], "b": [1.4, 1.5, 1.45]}
    confirm = [_confirm_trial(name, s, v, 0.8) for name, vs in values.items() for s, v in zip(seeds, vs, strict=True)]

    def decide_all(search_trials, confirm_trials):
        finalists = choose_finalists(search_trials, objective=OBJ, default_config=BASE, top=2)
        results = finalist_results(finalists, seeds=seeds, trials=confirm_trials, objective=OBJ)
        verdict = decide(results, objective=OBJ)
        return [f.name for f in finalists], verdict.winner, verdict.exported, verdict.beats_default

    before = decide_all(search, confirm)
    flipped_search, flipped_confirm = copy.deepcopy(search), copy.deepcopy(confirm)
    for t in flipped_search + flipped_confirm:  # held-out favours the opposite order, wildly
        t.last_result["test_image_auroc"] = 1.0 - t.last_result["best_score"] / 2
    for i, t in enumerate(flipped_confirm):
        t.last_result["test_pixel_auroc"] = float(i)
    assert decide_all(flipped_search, flipped_confirm) == before == ([DEFAULT, "a", "b"], "a", "a", True)


def test_record_round_trips_and_renders(tmp_path):
    results, verdict = _race([(1.5, 0.8), (1.6, 0.82), (1.4, 0.79)], [(1.6, 0.9), (1.71, 0.93), (1.49, 0.88)])
    results[0].validation[2] = math.nan  # a failed run: null in strict JSON, left out of the intervals
    record = confirmation_record(category="weave", results=results, verdict=verdict, objective=OBJ)
    folder = resolve(str(tmp_path))
    write_confirmation(folder, record)
    assert "NaN" not in (tmp_path / "confirmation.json").read_text()
    back = read_confirmation(folder)
    assert back["line"] == verdict.line and back["seeds"] == [1, 2, 3]
    assert back["finalists"][1]["vs_default"]["validation"]["n"] == 2
    table = finalists_table(back)
    assert table[0].startswith("| finalist | search value | validation score |")
    assert table[3].startswith("| a (winner) | 1.1 | 1.600 (95% CI ")
    assert json.loads(json.dumps(back)) == back
