"""`glass-tune tune` up to the search: precedence of --set, space fixed values and the config file,
and the new search flags reaching TuneOptions (run_search itself is replaced: no Ray here)."""

from __future__ import annotations

import time

import pytest
import yaml

import glass_tune.search.driver as driver
from glass_tune.cli.main import main
from glass_tune.experiment.results import CategoryOutcome
from glass_tune.experiment.search_record import SEARCH_FILE
from glass_tune.search.plan import resumed_search, save_search_record
from tests.helpers import TINY


@pytest.fixture
def captured(monkeypatch):
    seen = {}

    def fake_run_search(*, base, space, options, categories, resume=False):
        seen.update(base=base, space=space, options=options, categories=categories)
        return []

    monkeypatch.setattr(driver, "run_search", fake_run_search)
    return seen


def _inputs(tmp_path, *, fixed):
    config = tmp_path / "c.yaml"
    config.write_text(
        yaml.safe_dump({**{k: v for k, v in TINY.items() if k != "epochs"}, "learning_rate": 0.002, "mining": True})
    )
    space = tmp_path / "s.yaml"
    space.write_text(yaml.safe_dump({"params": {"step": {"type": "int", "low": 5, "high": 8}}, "fixed": fixed}))
    return config, space


def _tune(tmp_path, data, config, space, name: str, *extra: str) -> int:
    """``glass-tune tune`` on the tiny inputs (run_search is captured, nothing trains)."""
    args = ["--data", str(data), "--config", str(config), "--space", str(space)]
    return main(["tune", *args, "--storage", str(tmp_path / "runs"), "--name", name, *extra])


def test_space_fixed_beats_config_file_and_set_beats_both(tmp_path, synthetic_root, captured):
    config, space = _inputs(tmp_path, fixed={"learning_rate": 0.0005, "mining": False})
    code = _tune(
        tmp_path,
        synthetic_root,
        config,
        space,
        "p",
        "--category",
        "weave",
        "--set",
        "mining=true",
        "--sampler",
        "random",
        "--objective",
        "smoothed",
        "--repeats",
        "2",
        "--confirm-export",
        "significant",
    )
    assert code == 0
    base, options = captured["base"], captured["options"]
    assert base.learning_rate == 0.0005 and base.mining is True and base.svd == "auto"
    assert (options.sampler, options.objective, options.repeats, options.grace_period) == ("random", "smoothed", 2, None)
    assert captured["space"].metric == "objective"  # smoothed: the search optimises the reported objective
    # what run_search records once Ray is up is what --resume reads back
    save_search_record(base=base, space=captured["space"], options=options, categories=captured["categories"])
    again_plan = resumed_search(options)
    again_base, again = again_plan.base, again_plan.options
    assert again_plan.space.metric == "objective"
    assert (again.sampler, again.objective, again.repeats, again.confirm_export) == ("random", "smoothed", 2, "significant")
    assert again_base.learning_rate == 0.0005


def test_a_search_recorded_before_the_export_rule_resumes_with_the_rule_it_had(tmp_path, synthetic_root, captured):
    config, space = _inputs(tmp_path, fixed={})
    assert _tune(tmp_path, synthetic_root, config, space, "old", "--category", "weave") == 0
    options = captured["options"]
    assert options.confirm_export == "best-mean"  # today's default
    save_search_record(base=captured["base"], space=captured["space"], options=options, categories=captured["categories"])
    record_file = options.experiment / SEARCH_FILE
    record = yaml.safe_load(record_file.read_text())
    del record["options"]["confirm_export"]  # as an experiment recorded before the flag existed
    record_file.write_text(yaml.safe_dump(record))
    assert resumed_search(options).options.confirm_export == "significant"


def test_set_of_a_searched_key_is_still_refused(tmp_path, synthetic_root, captured, capsys):
    config, space = _inputs(tmp_path, fixed={})
    code = _tune(tmp_path, synthetic_root, config, space, "q", "--category", "weave", "--set", "step=6")
    assert code == 2 and "'step' is searched" in capsys.readouterr().err and not captured


# inception_v3's Mixed_7c cannot be computed at 64 px (a 3x3 kernel on a 2x2 map); 96 px is the first that works
INCEPTION = ["--set", "backbone=inception_v3", "--set", "layers=[Mixed_7c]"]
SHAPE_SPACE = {"params": {"input_shape": {"type": "categorical", "choices": [64, 128]}}}


@pytest.mark.parametrize("searched", [False, True], ids=["base config", "an extreme of the space"])
def test_a_model_that_cannot_be_built_is_refused_before_ray_starts(tmp_path, synthetic_root, captured, capsys, searched):
    import ray

    config, space = _inputs(tmp_path, fixed={})
    if searched:  # the base config's 128 px would build: the space's low end is refused
        config.write_text(yaml.safe_dump({**yaml.safe_load(config.read_text()), "input_shape": 128}))
        space.write_text(yaml.safe_dump(SHAPE_SPACE))
    start = time.monotonic()
    assert _tune(tmp_path, synthetic_root, config, space, "m", *INCEPTION) == 2
    assert time.monotonic() - start < 20  # the model is built on the meta device: no weights, no memory
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "input_shape [64, 64]: backbone 'inception_v3' cannot compute layers Mixed_7c" in err[0]
    assert err[0].endswith("the smallest square multiple of 32 that works is [96, 96]")
    assert not captured and not ray.is_initialized() and not (tmp_path / "runs" / "m").exists()


def test_a_search_whose_trials_all_errored_exits_1_and_says_so_last(tmp_path, synthetic_root, monkeypatch, capsys):
    errored = CategoryOutcome("weave", None, {}, {}, trials=2, stopped_early=0, errors=["a: boom", "b: boom"])
    monkeypatch.setattr(driver, "run_search", lambda **_: [errored])
    config, space = _inputs(tmp_path, fixed={})
    assert _tune(tmp_path, synthetic_root, config, space, "e", "--category", "weave") == 1
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert last.startswith("glass-tune tune: error: weave: 2 trials, 2 errored, nothing exported (see glass-tune status ")


def test_optimised_metric():
    from glass_tune.search.plan import optimised_metric
    from glass_tune.util.errors import ConfigError

    assert optimised_metric(space_metric="best_score", score_rule="best") == "best_score"
    assert optimised_metric(space_metric="best_score", score_rule="smoothed") == "objective"
    assert optimised_metric(space_metric="loss", score_rule="best") == "loss"
    with pytest.raises(ConfigError, match="smoothing applies to best_score only"):
        optimised_metric(space_metric="loss", score_rule="smoothed")
