"""Search-space files: bundled spaces, every validation error, and the Optuna define-by-run sampler."""

from __future__ import annotations

import copy
import pickle

import optuna
import pytest
import yaml

from glass_tune.config.schema import GlassConfig, from_mapping
from glass_tune.search.space import SpaceSampler, bundled_names, load_search_space
from glass_tune.util.errors import ConfigError

optuna.logging.set_verbosity(optuna.logging.WARNING)

PAPER_DEFAULTS = {
    "step": 20,
    "gaussian_noise_std": 0.015,
    "radius_quantile": 0.75,
    "focal_loss_quantile_threshold": 0.5,
}

BASE = {
    "metric": "best_score",
    "mode": "max",
    "params": {
        "mining": {"type": "categorical", "choices": [True, False]},
        "step": {"type": "int", "low": 5, "high": 40, "condition": {"mining": True}},
        "gaussian_noise_std": {"type": "float", "low": 0.003, "high": 0.06, "log": True},
        "radius_quantile": {"type": "float", "low": 0.5, "high": 0.95, "step": 0.05},
    },
    "fixed": {"epochs": 3},
    "points_to_evaluate": [{"mining": True, "step": 20, "gaussian_noise_std": 0.015, "radius_quantile": 0.75}],
}


DROP = object()


def write_space(tmp_path, data=None, *, name="space.yaml"):
    """``data`` (default BASE) written as YAML; returns the path as a string."""
    path = tmp_path / name
    path.write_text(yaml.safe_dump(BASE if data is None else data, sort_keys=False))
    return str(path)


def changed(keys, value):
    """A copy of BASE with the entry at ``keys`` set to ``value`` (or removed when ``value`` is DROP)."""
    data = copy.deepcopy(BASE)
    target = data
    for key in keys[:-1]:
        target = target[key]
    if value is DROP:
        del target[keys[-1]]
    else:
        target[keys[-1]] = value
    return data


def sample_trials(space, n, *, enqueue=()):
    """Ask ``n`` trials of a fresh seeded study through the sampler; each trial's params plus constants."""
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    for point in enqueue:
        study.enqueue_trial(point)
    sampler = SpaceSampler(space)
    out = []
    for _ in range(n):
        trial = study.ask()
        constants = sampler(trial)
        out.append({**trial.params, **constants})
        study.tell(trial, 0.0)
    return out


# --- bundled spaces --------------------------------------------------------------------------------


def test_bundled_names():
    assert {"default", "wide", "cpu_smoke"} <= set(bundled_names())


@pytest.mark.parametrize("name", ["default", "wide", "cpu_smoke"])
def test_bundled_spaces_load_and_start_from_valid_configs(name):
    space = load_search_space(name)
    assert space.name == name and space.metric == "best_score" and space.mode == "max"
    assert space.points_to_evaluate
    for point in space.points_to_evaluate:
        from_mapping({**space.fixed, **point})


@pytest.mark.parametrize("name", ["default", "wide"])
def test_first_point_is_the_paper_default(name):
    first = load_search_space(name).points_to_evaluate[0]
    # wide starts from svd=0, where radius_quantile is not searched (it only acts under svd=1)
    expected = {k: v for k, v in PAPER_DEFAULTS.items() if not (k == "radius_quantile" and first.get("svd") == 0)}
    assert {k: first[k] for k in expected} == expected


def test_wide_extends_default():
    default = set(load_search_space("default").params)
    wide = load_search_space("wide")
    assert default | {"learning_rate", "svd", "mining", "discriminator_hidden", "pre_projection"} == set(wide.params)
    assert wide.params["step"].condition == ("mining", True)


def test_load_by_path_and_to_dict_round_trip(tmp_path):
    space = load_search_space(write_space(tmp_path))
    assert space.name == "space" and space.source.endswith("space.yaml")
    record = space.to_dict()
    again = load_search_space(write_space(tmp_path, record, name="again.yml"))
    assert again.name == "space" and again.source.endswith("again.yml")  # the recorded name is kept
    assert {**again.to_dict(), "source": space.source} == record and again.params == space.params


def test_exponent_floats_without_a_dot(tmp_path):
    path = tmp_path / "lr.yaml"
    path.write_text("params:\n  learning_rate: {type: float, low: 1e-5, high: 1e-3, log: true}\n")
    param = load_search_space(str(path)).params["learning_rate"]
    assert (param.low, param.high) == (1e-5, 1e-3)


# --- validation errors -----------------------------------------------------------------------------

P = "params"
POINT = ("points_to_evaluate", 0)
# (where in BASE, new value, the location the message must name, what it must say)
ERRORS = {
    "unknown parameter": ((P, "stepz"), {"type": "int", "low": 1, "high": 2}, "params.stepz", "unknown parameter"),
    "unknown type": ((P, "step", "type"), "integer", "params.step", "unknown type 'integer'"),
    "inverted range": ((P, "step", "low"), 50, "params.step", "empty range"),
    "empty range": ((P, "radius_quantile", "high"), 0.5, "params.radius_quantile", "empty range"),
    "log with low <= 0": ((P, "gaussian_noise_std", "low"), 0.0, "params.gaussian_noise_std", "needs low > 0"),
    "quantile above 1": ((P, "radius_quantile", "high"), 1.2, "radius_quantile.high", "radius_quantile=1.2"),
    "quantile below 0": (
        (P, "focal_loss_quantile_threshold"),
        {"type": "float", "low": -0.1, "high": 0.5},
        "params.focal_loss_quantile_threshold.low",
        "focal_loss_quantile_threshold=-0.1",
    ),
    "int with float bounds": ((P, "step", "high"), 40.5, "params.step.high", "expected an integer"),
    "NaN bound": ((P, "gaussian_noise_std", "low"), float("nan"), "params.gaussian_noise_std.low", "finite number, got nan"),
    "infinite bound": ((P, "radius_quantile", "high"), float("inf"), "params.radius_quantile.high", "finite number, got inf"),
    "infinite int bound": ((P, "step", "high"), float("inf"), "params.step.high", "expected an integer, got inf"),
    "NaN step": ((P, "radius_quantile", "step"), float("nan"), "params.radius_quantile.step", "got nan"),
    "NaN override": (
        (P, "gaussian_noise_std", "override"),
        [{"when": {"svd": 0}, "low": float("nan"), "high": 0.5}],
        "params.gaussian_noise_std.override[0]",
        "got nan, 0.5",
    ),
    "float type on an int field": (
        (P, "pre_projection"),
        {"type": "float", "low": 0, "high": 2},
        "params.pre_projection.low",
        "pre_projection=0.0",
    ),
    "categorical without choices": ((P, "mining", "choices"), [], "params.mining", "non-empty list of choices"),
    "invalid choice": ((P, "mining", "choices"), [True, "yes"], "params.mining.choices", "mining='yes'"),
    "range key on categorical": ((P, "mining", "low"), 0, "params.mining", "key 'low' does not apply"),
    "step off the grid": ((P, "radius_quantile", "step"), 0.2, "params.radius_quantile", "whole number of steps"),
    "condition on unknown param": ((P, "step", "condition"), {"minning": True}, "step.condition", "'minning'"),
    "condition on non-categorical": (
        (P, "radius_quantile", "condition"),
        {"gaussian_noise_std": 0.01},
        "params.radius_quantile.condition",
        "must be categorical",
    ),
    "condition on a later param": (
        (P, "step", "condition"),
        {"radius_quantile": 0.5},
        "params.step.condition",
        "declared before 'step'",
    ),
    "condition value not a choice": ((P, "step", "condition"), {"mining": 1}, "params.step.condition", "mining=1"),
    "unknown fixed key": (("fixed", "epoch"), 3, "fixed", "unknown config key 'epoch'"),
    "invalid fixed value": (("fixed", "epochs"), 0, "fixed", "epochs=0"),
    "fixed and searched": (("fixed", "step"), 10, "fixed.step", "both fixed and searched"),
    "point with unknown key": ((*POINT, "epochs"), 3, "points_to_evaluate[0]", "'epochs' is not a searched"),
    "point outside range": ((*POINT, "step"), 41, "points_to_evaluate[0]", "step=41"),
    "point off the grid": ((*POINT, "radius_quantile"), 0.77, "points_to_evaluate[0]", "radius_quantile=0.77"),
    "point with wrong choice type": ((*POINT, "mining"), 1, "points_to_evaluate[0]", "mining=1"),
    "point against its condition": ((*POINT, "mining"), False, "points_to_evaluate[0]", "only searched when"),
    "bad mode": (("mode",), "maximize", "space.yaml", "mode must be max or min"),
    "unknown top-level key": (("param",), {}, "space.yaml", "unknown key 'param'"),
    "no params": ((P,), DROP, "space.yaml", "params must be a non-empty mapping"),
}


@pytest.mark.parametrize("case", list(ERRORS))
def test_validation_error_names_file_and_key(tmp_path, case):
    keys, value, where, what = ERRORS[case]
    path = write_space(tmp_path, changed(keys, value))
    with pytest.raises(ConfigError) as info:
        load_search_space(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(path) and where in message and what in message, message


def test_missing_file_lists_bundled_names(tmp_path):
    with pytest.raises(ConfigError, match=r"not found \(bundled spaces: .*default.*wide"):
        load_search_space(str(tmp_path / "nope.yaml"))
    with pytest.raises(ConfigError, match=r"^nope: neither a search space file nor a bundled space \(.*default"):
        load_search_space("nope")


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("params:\n  step: {type: int, low: 5\n")
    with pytest.raises(ConfigError, match=r"broken\.yaml: not valid YAML \(line \d+\)"):
        load_search_space(str(path))


# --- sampling --------------------------------------------------------------------------------------


def test_sampler_values_inside_ranges_and_conditions_honoured(tmp_path):
    space = load_search_space(write_space(tmp_path))
    trials = sample_trials(space, 40)
    for values in trials:
        assert values["epochs"] == 3  # fixed values come back as constants
        assert 0.003 <= values["gaussian_noise_std"] <= 0.06
        assert min(abs(values["radius_quantile"] - (0.5 + 0.05 * i)) for i in range(10)) < 1e-9  # on the grid
        assert ("step" in values) == values["mining"]
        if values["mining"]:
            assert isinstance(values["step"], int) and 5 <= values["step"] <= 40
        from_mapping(values)
    assert {v["mining"] for v in trials} == {True, False}


def resolved(name, **config):
    """A bundled space as one category's search sees it (svd resolved, default manifold)."""
    return load_search_space(name).resolve(from_mapping({"svd": 0, **config}))


@pytest.mark.parametrize("svd", [0, 1])
def test_bundled_spaces_sample_valid_configs(svd):
    for name in bundled_names():
        space = resolved(name, svd=svd)
        for values in sample_trials(space, 10):
            assert all(p.contains(values[name]) for name, p in space.params.items() if name in values)
            from_mapping(values)


def test_enqueued_points_come_first():
    space = resolved("wide")
    first, second = sample_trials(space, 2, enqueue=space.points_to_evaluate)
    assert first == space.points_to_evaluate[0]
    assert second != first


def test_sampler_pickles():
    sampler = SpaceSampler(resolved("wide"))
    restored = pickle.loads(pickle.dumps(sampler))
    assert restored == sampler
    assert sample_trials(restored.space, 3) == sample_trials(sampler.space, 3)


def test_ray_optuna_search_uses_the_sampler(tmp_path):
    """The contract as Ray sees it: suggested values plus the fixed constants, points first, save/restore."""
    from ray.tune.search.optuna import OptunaSearch

    space = load_search_space(write_space(tmp_path))
    searcher = OptunaSearch(
        space=SpaceSampler(space), metric=space.metric, mode=space.mode, points_to_evaluate=list(space.points_to_evaluate)
    )
    first, second = searcher.suggest("a"), searcher.suggest("b")
    assert first == {**space.points_to_evaluate[0], "epochs": 3}
    assert second["epochs"] == 3 and ("step" in second) == second["mining"]
    searcher.save(str(tmp_path / "searcher.pkl"))
    restored = OptunaSearch(space=SpaceSampler(space), metric=space.metric, mode=space.mode)
    restored.restore(str(tmp_path / "searcher.pkl"))
    assert restored.suggest("c")["epochs"] == 3


# --- parameters that depend on the category's run config ----------------------------------------


def test_radius_quantile_searched_only_in_hypersphere_mode():
    manifold, hypersphere = resolved("default", svd=0), resolved("default", svd=1)
    assert "radius_quantile" not in manifold.params
    assert hypersphere.params["radius_quantile"].condition is None
    assert all("radius_quantile" not in t for t in sample_trials(manifold, 6))
    assert all(0.5 <= t["radius_quantile"] <= 0.95 for t in sample_trials(hypersphere, 6))
    assert "radius_quantile" not in manifold.points_to_evaluate[0]


@pytest.mark.parametrize("dim", [1536, 384, 64])
def test_manifold_noise_range_is_the_live_shell(dim):
    """Under svd=0 a noise norm sqrt(D)*std outside [0.5, 1] is clamped onto the shell: the range is that band."""
    noise = resolved("default", svd=0, target_embed_dim=dim, pretrain_embed_dim=dim).params["gaussian_noise_std"]
    assert noise.low * dim**0.5 == pytest.approx(0.5) and noise.high * dim**0.5 == pytest.approx(1.0)
    wide = resolved("default", svd=1, target_embed_dim=dim, pretrain_embed_dim=dim).params["gaussian_noise_std"]
    assert wide.low < noise.low and wide.high > noise.high and wide.log


def test_paper_point_is_clipped_into_the_live_range():
    point = resolved("default", svd=0, target_embed_dim=384, pretrain_embed_dim=384).points_to_evaluate[0]
    assert point["gaussian_noise_std"] == pytest.approx(0.5 / 384**0.5)  # 0.015 is norm 0.29 there: clamped to 0.5
    assert resolved("default", svd=0).points_to_evaluate[0]["gaussian_noise_std"] == 0.015  # norm 0.59 at 1536


def test_unresolved_space_refuses_to_sample_or_resolve_auto():
    space = load_search_space("default")
    with pytest.raises(ConfigError, match="resolve"):
        sample_trials(space, 1)
    with pytest.raises(ConfigError, match="svd, which is still 'auto'"):
        space.resolve(from_mapping({}))


@pytest.mark.parametrize(
    ("keys", "value", "message"),
    [
        (("params", "gaussian_noise_std", "units"), "furlongs", "units: expected norm"),
        (("params", "radius_quantile", "condition"), {"svd": 2}, "svd=2 is invalid"),
        (("params", "radius_quantile", "condition"), {"colour": 1}, "'colour' is neither a searched parameter"),
        (("params", "gaussian_noise_std", "override"), [{"when": {"svd": 0}, "low": 1.0}], "exactly the keys when, low and high"),
        (("params", "gaussian_noise_std", "override"), [{"when": {"svd": 0}, "low": 1.0, "high": 0.5}], "expected low < high"),
    ],
)
def test_config_dependent_keys_are_validated(tmp_path, keys, value, message):
    with pytest.raises(ConfigError, match=message):
        load_search_space(write_space(tmp_path, changed(keys, value)))


@pytest.mark.parametrize("name", bundled_names())
def test_recorded_space_round_trips_without_its_file(name):
    """--resume rebuilds the space from search.yaml's copy, so the original file may be gone."""
    from glass_tune.search.space import space_from_record

    space = load_search_space(name)
    again = space_from_record(yaml.safe_load(yaml.safe_dump(space.to_dict(), sort_keys=False)), source="search.yaml: space")
    assert (again.params, again.fixed, again.points_to_evaluate) == (space.params, space.fixed, space.points_to_evaluate)
    assert (again.metric, again.mode, again.name) == (space.metric, space.mode, space.name)


def test_recorded_space_must_be_a_mapping():
    from glass_tune.search.space import space_from_record

    with pytest.raises(ConfigError, match="search.yaml: the recorded search space is not a mapping"):
        space_from_record(["params"], source="search.yaml")


def test_shape_extremes_are_every_combination_of_the_searched_ends_of_shape_keys(tmp_path):
    base = GlassConfig(backbone="resnet18", pre_trained=False, input_shape=(64, 64))
    assert load_search_space("wide").shape_extremes(base) == [base]  # it searches no shape key
    params = {
        "patchsize": {"type": "int", "low": 3, "high": 7, "step": 2},
        "input_shape": {"type": "categorical", "choices": [64, 96, 128]},
        "step": {"type": "int", "low": 1, "high": 9},
    }
    space = load_search_space(write_space(tmp_path, {"params": params}))
    configs = space.shape_extremes(base)
    assert [(c.patchsize, c.input_shape[0]) for c in configs] == [(3, 64), (3, 96), (3, 128), (7, 64), (7, 96), (7, 128)]
    assert {c.step for c in configs} == {base.step}  # not a shape key: left at the base value
