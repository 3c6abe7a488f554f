"""The anomalib export: its Glass(...) init arguments are the config's anomalib group."""

from __future__ import annotations

from typing import Any

import yaml

from glass_tune.config.schema import GlassConfig, fields_in
from glass_tune.export.config_formats import anomalib_config

PROVENANCE = {"category": "bottle", "trial_id": "t1", "metrics": {"score": 0.9}}


def _init_args(config: GlassConfig) -> dict[str, Any]:
    return yaml.safe_load(anomalib_config(config, PROVENANCE))["model"]["init_args"]


def test_anomalib_init_args_are_the_anomalib_group_in_anomalibs_order() -> None:
    keys = list(_init_args(GlassConfig()))
    assert sorted(keys) == sorted(fields_in(group="anomalib"))
    assert keys[:2] == ["input_shape", "anomaly_source_path"]  # as anomalib's Glass(...) signature
    assert keys[2:] == [k for k in fields_in(group="anomalib") if k not in keys[:2]]


def test_anomalib_init_args_carry_the_config_values() -> None:
    config = GlassConfig(
        input_shape=(128, 96), backbone="resnet18", layers=("layer1",), step=7, svd=1, anomaly_source_path="/dtd"
    )
    args = _init_args(config)
    plain = config.to_dict()
    assert args == {k: plain[k] for k in fields_in(group="anomalib")}
    assert (args["input_shape"], args["layers"]) == ([128, 96], ["layer1"])  # tuples as lists


def test_anomalib_backbone_names_the_official_weights() -> None:
    assert _init_args(GlassConfig())["backbone"] == "wide_resnet50_2.tv_in1k"
    assert _init_args(GlassConfig(backbone="wide_resnet50_2.racm_in1k"))["backbone"] == "wide_resnet50_2.racm_in1k"
