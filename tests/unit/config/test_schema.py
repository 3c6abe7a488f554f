"""GlassConfig: seed defaults, YAML + --set layering, one-line validation errors, field declarations."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from glass_tune.config.schema import (
    FIELD_NAMES,
    GlassConfig,
    fields_in,
    float_rule,
    from_mapping,
    int_rule,
    load_config,
    parse_override,
    save_config,
)
from glass_tune.util.errors import ConfigError


def test_defaults_are_the_papers():
    c = GlassConfig()
    assert c.input_shape == (288, 288)
    assert c.backbone == "wide_resnet50_2"
    assert (c.pretrain_embed_dim, c.target_embed_dim) == (1536, 1536)
    assert c.layers == ("layer2", "layer3")
    assert (c.step, c.svd, c.gaussian_noise_std) == (20, "auto", 0.015)  # auto: the official per-class choice
    assert c.mask_protocol == "auto"
    assert (c.radius_quantile, c.focal_loss_quantile_threshold) == (0.75, 0.5)
    assert (c.batch_size, c.samples_per_epoch, c.learning_rate) == (8, 392, 1e-4)
    assert c.mining is True and c.anomaly_source_path is None


def test_yaml_then_flags_then_set(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("backbone: resnet18\nstep: 10\nepochs: 3\n")
    c = load_config(f, extra={"epochs": 5, "category": None}, overrides=["step=7", "input_shape=[128, 96]"])
    assert c.backbone == "resnet18"
    assert c.epochs == 5
    assert c.step == 7
    assert c.input_shape == (128, 96)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("learning_rate=1e-4", 1e-4), ("mining=false", False), ("svd=auto", "auto"), ("anomaly_source_path=null", None)],
)
def test_override_values_are_yaml(text, expected):
    assert parse_override(text)[1] == expected


def test_round_trip_through_yaml(tmp_path):
    c = load_config(overrides=["input_shape=[96,96]", "layers=[layer1,layer2]", "svd=1"])
    save_config(c, tmp_path / "out.yaml")
    assert load_config(tmp_path / "out.yaml") == c


def test_exported_provenance_block_is_ignored(tmp_path):
    f = tmp_path / "best.yaml"
    f.write_text(yaml.safe_dump({"step": 9, "provenance": {"trial_id": "abc"}}))
    assert load_config(f).step == 9


@pytest.mark.parametrize(
    ("override", "needle"),
    [
        ("radius_quantile=1.5", "radius_quantile=1.5 is invalid, expected a number in [0.0, 1.0]"),
        ("focal_loss_quantile_threshold=-0.1", "focal_loss_quantile_threshold"),
        ("step=-1", "step=-1 is invalid, expected an integer >= 0"),
        ("gaussian_noise_std=0", "gaussian_noise_std=0 is invalid"),
        ("svd=2", "svd=2 is invalid, expected one of 0, 1, auto"),
        ("input_shape=[128]", "input_shape"),
        ("mining=maybe", "mining='maybe' is invalid, expected true or false"),
        ("batch_size=2.5", "batch_size"),
        ("learning_rate=nan", "learning_rate"),
        ("seed=4294967296", "seed=4294967296 is invalid, expected an integer in [0, 4294967295]"),
        ("bogus=1", "unknown config key 'bogus'"),
        ("no_equals_sign", "expected key=value"),
    ],
)
def test_bad_values_give_one_line_errors(override, needle):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[override])
    assert needle in str(err.value)
    assert "\n" not in str(err.value)


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match="missing.yaml: config file not found"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("step: [1,\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    wrong = tmp_path / "wrong.yaml"
    wrong.write_text("step: 1.5\n")
    with pytest.raises(ConfigError, match=r"wrong.yaml: step=1.5 is invalid"):
        load_config(wrong)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(listy)


def test_replace_validates():
    with pytest.raises(ConfigError):
        GlassConfig().replace(step=-3)
    assert GlassConfig().replace(step=3).step == 3


def test_from_mapping_rejects_non_mapping():
    with pytest.raises(ConfigError, match="expected a mapping"):
        from_mapping([1, 2])  # type: ignore[arg-type]


def test_written_files_follow_the_umask_not_mkstemp(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        save_config(GlassConfig(), tmp_path / "c.yaml")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "c.yaml").stat().st_mode) == 0o644


def test_exponent_numbers_read_alike_in_config_files_spaces_and_set(tmp_path):
    """One YAML reader: ``1e-4`` is a number in a --config file, a space file and --set."""
    from glass_tune.search.space import load_search_space

    cfg = tmp_path / "c.yaml"
    cfg.write_text("learning_rate: 1e-4\ngaussian_noise_std: 2e-2\n")
    c = load_config(cfg)
    assert (c.learning_rate, c.gaussian_noise_std) == (1e-4, 2e-2)
    space = tmp_path / "s.yaml"
    space.write_text("params:\n  learning_rate: {type: float, low: 1e-5, high: 1e-3, log: true}\n")
    p = load_search_space(space).params["learning_rate"]
    assert (p.low, p.high) == (1e-5, 1e-3)
    assert load_config(overrides=["learning_rate=3e-4"]).learning_rate == 3e-4


def test_bundled_profile_by_name():
    c = load_config("cpu_demo")
    assert (c.backbone, c.input_shape, c.pre_trained) == ("resnet18", (128, 128), False)
    with pytest.raises(ConfigError, match="no_such_profile: neither a config file nor a bundled profile \\(cpu_demo"):
        load_config("no_such_profile")


def test_precedence_set_over_space_fixed_over_file_over_defaults(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("step: 7\nepochs: 3\nlearning_rate: 0.001\n")
    c = load_config(f, fixed={"step": 9, "mining": False, "epochs": 4}, extra={"epochs": 5}, overrides=["mining=true"])
    assert c.step == 9  # the space's fixed value beats the config file
    assert c.mining is True  # --set beats the space
    assert c.epochs == 5  # a dedicated flag beats the space too
    assert c.learning_rate == 0.001  # the file beats the defaults
    assert c.batch_size == 8  # defaults fill the rest


@pytest.mark.parametrize("field", dataclasses.fields(GlassConfig), ids=lambda f: f.name)
def test_each_field_is_validated_by_the_rule_it_declares(field):
    conv, expected = field.metadata["rule"]
    assert conv(field.default) == field.default  # the default passes its own rule
    with pytest.raises(ConfigError) as err:
        from_mapping({field.name: object()})
    assert str(err.value).startswith(f"config: {field.name}=<object")
    assert str(err.value).endswith(f"is invalid, expected {expected}")


def test_sections_split_the_keys_in_their_saved_order(tmp_path):
    """model, run, speed: each field in exactly one section, and saved files list them in that order."""
    sections = fields_in(group="model") + fields_in(group="run") + fields_in(group="speed")
    assert sections == FIELD_NAMES
    save_config(GlassConfig(), tmp_path / "c.yaml")
    assert list(yaml.safe_load((tmp_path / "c.yaml").read_text())) == list(FIELD_NAMES)
    assert list(GlassConfig().to_dict()) == list(FIELD_NAMES)


def test_model_groups_differ_only_where_glass_model_and_anomalib_differ():
    """GlassModel takes no optimizer or texture settings; anomalib has no weights file or speed switches."""
    glass_model, anomalib = set(fields_in(group="glass_model")), set(fields_in(group="anomalib"))
    assert anomalib <= set(fields_in(group="model"))
    assert anomalib - glass_model == {"learning_rate", "anomaly_source_path"}
    assert glass_model - anomalib == {"backbone_weights", "gas_loop", "precision"}
    assert fields_in(group="glass_model") == tuple(k for k in FIELD_NAMES if k in glass_model)  # declaration order


@pytest.mark.parametrize("key", [f.name for f in dataclasses.fields(GlassConfig) if f.type in ("int", "float")])
@pytest.mark.parametrize("text", [".nan", ".inf", "-.inf"])
def test_no_numeric_key_takes_nan_or_an_infinity(key, text):
    with pytest.raises(ConfigError) as err:
        load_config(overrides=[f"{key}={text}"])
    assert str(err.value).startswith(f"--set: {key}=") and "\n" not in str(err.value)


def test_number_rules_name_their_range_and_refuse_bools_and_non_finite_values():
    for rule, expected in [
        (int_rule(), "an integer"),
        (int_rule(1), "an integer >= 1"),
        (int_rule(0, 9), "an integer in [0, 9]"),
        (float_rule(), "a finite number"),
        (float_rule(0.0, lo_open=True), "a number > 0.0"),
        (float_rule(0.0, 1.0, hi_open=True), "a number in [0.0, 1.0)"),
    ]:
        conv, text = rule
        assert text == expected
        for bad in (True, float("nan"), float("inf"), "1", None):
            with pytest.raises((ValueError, TypeError)):
                conv(bad)
    assert int_rule(0, 9)[0](9) == 9 and float_rule(0.0, 1.0)[0](1) == 1.0
    for conv, bad in [(int_rule(0, 9)[0], 10), (float_rule(0.0, 1.0, hi_open=True)[0], 1.0), (float_rule(0.0)[0], -1e-9)]:
        with pytest.raises(ValueError):
            conv(bad)


def test_the_keys_that_size_the_feature_maps():
    assert fields_in(group="shape") == ("input_shape", "backbone", "patchsize", "patchstride", "layers")
