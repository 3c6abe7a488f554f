"""`glass-tune train / predict / synth` as a user runs them."""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from glass_tune.cli.main import main
from glass_tune.inference.heatmaps import heatmap_names
from tests.helpers import write_tiny_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory, synthetic_root):
    d = tmp_path_factory.mktemp("cli")
    config = d / "tiny.yaml"
    write_tiny_config(config)
    out = d / "run"
    args = [
        "train",
        "--data",
        str(synthetic_root),
        "--category",
        "washer",
        "--config",
        str(config),
        "--epochs",
        "2",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    return {"out": out, "args": args, "root": synthetic_root}


def test_train_writes_the_documented_outputs(trained):
    out = trained["out"]
    for name in ("config.yaml", "metrics.json", "checkpoints/last.pt", "checkpoints/best.pt"):
        assert (out / name).is_file(), name
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["val_source"] == "split" and doc["test"] is not None  # held-out figures by default
    assert yaml.safe_load((out / "config.yaml").read_text())["category"] == "washer"


def test_train_refuses_to_mix_runs_then_resumes(trained, capsys):
    assert main(trained["args"]) == 2
    assert "output folder is not empty" in capsys.readouterr().err
    args = [a if a != "2" else "3" for a in trained["args"]]
    assert main([*args, "--resume"]) == 0
    history = json.loads((trained["out"] / "metrics.json").read_text())["history"]
    assert [row["epoch"] for row in history] == [1, 2, 3]
    assert "best epoch" in capsys.readouterr().out


def test_predict_writes_heatmaps_and_scores(trained, tmp_path, capsys):
    images = sorted((trained["root"] / "washer" / "test").glob("*/*.png"))[:3]
    out = tmp_path / "pred"
    assert main(["predict", "--checkpoint", str(trained["out"]), *map(str, images), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert [r["image"] for r in rows] == list(map(str, images))
    assert all(0.0 <= float(r["score"]) <= 1.0 for r in rows)
    for r in rows:
        with Image.open(out / r["heatmap"]) as heat:
            assert heat.size == (64, 64) and heat.mode == "RGB"


def test_predict_writes_one_output_per_input_when_base_names_repeat(trained, tmp_path):
    test = trained["root"] / "washer" / "test"
    images = [sorted((test / d).glob("*.png"))[0] for d in ("good", "scratch", "stain")]
    assert len({p.name for p in images}) == 1  # the synthetic layout repeats 000.png per folder, like MVTec
    out = tmp_path / "pred"
    assert main(["predict", "--checkpoint", str(trained["out"]), *map(str, images), "--out", str(out)]) == 0
    rows = list(csv.DictReader((out / "scores.csv").open()))
    assert [r["heatmap"] for r in rows] == [f"{d}/{images[0].stem}_heatmap.png" for d in ("good", "scratch", "stain")]
    heats = [np.asarray(Image.open(out / r["heatmap"])) for r in rows]
    assert not np.array_equal(heats[0], heats[1])  # each file shows its own image
    assert [p.name for p in heatmap_names([tmp_path / "a.png", tmp_path / "a.jpg"])] == ["a.png_heatmap.png", "a.jpg_heatmap.png"]
    assert heatmap_names([tmp_path / "x" / "a.png"]) == [Path("a_heatmap.png")]


def test_predict_bad_inputs_are_one_line_errors(trained, tmp_path, capsys):
    assert main(["predict", "--checkpoint", str(tmp_path / "nope.pt"), "x.png", "--out", str(tmp_path / "o")]) == 2
    assert "nope.pt: checkpoint file not found" in capsys.readouterr().err
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    assert main(["predict", "--checkpoint", str(trained["out"]), str(broken), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "broken.png" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()


def test_synth_writes_an_mvtec_layout(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "syn"), "--categories", "weave", "--size", "64", "--seed", "3"]) == 0
    root = tmp_path / "syn"
    assert len(list((root / "weave" / "train" / "good").glob("*.png"))) > 0
    defects = [p.name for p in (root / "weave" / "test").iterdir() if p.name != "good"]
    assert defects and all((root / "weave" / "ground_truth" / d).is_dir() for d in defects)


def test_unknown_key_and_bad_value_exit_2(capsys):
    assert main(["train", "--set", "bogus=1"]) == 2
    assert "unknown config key 'bogus'" in capsys.readouterr().err
    assert main(["train", "--set", "radius_quantile=7"]) == 2
    assert "radius_quantile=7 is invalid" in capsys.readouterr().err


def test_train_refuses_a_model_that_cannot_be_built_before_writing(tmp_path, synthetic_root, capsys):
    out = tmp_path / "run"
    model = ["--set", "backbone=inception_v3", "--set", "layers=[Mixed_7c]"]  # 64 px: too small for Mixed_7c
    assert main(["train", "--data", str(synthetic_root), "--config", "tiny", *model, "--out", str(out)]) == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]  # after the svd notice
    assert last.startswith("glass-tune train: error: input_shape [64, 64]: backbone 'inception_v3'") and not out.exists()


def _verbs() -> dict:
    from glass_tune.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sub.choices


@pytest.mark.parametrize("verb", sorted(_verbs()))
def test_help_names_every_flag_with_its_default_and_has_an_example(verb, capsys):
    parser = _verbs()[verb]
    with pytest.raises(SystemExit):
        main([verb, "--help"])
    text = capsys.readouterr().out
    assert parser.description and "example:\n  glass-tune " + verb in text
    for action in parser._actions:
        assert action.help and action.help != argparse.SUPPRESS, (verb, action.dest)
        if action.option_strings:
            assert all(f"{flag} " in text or f"{flag}\n" in text or f"{flag}," in text for flag in action.option_strings)
        valued = action.option_strings and action.nargs != 0 and action.dest not in ("help",)
        if valued:
            shown = parser.formatter_class("x")._get_help_string(action)
            assert "default" in shown or "required" in shown, (verb, action.dest)


def test_submit_shows_its_own_address_and_storage(capsys):
    with pytest.raises(SystemExit):
        main(["submit", "--help"])
    text = capsys.readouterr().out
    assert "--address URL" in text and "--storage DIR|URI" in text and "http://HEAD:8265" in text
    with pytest.raises(SystemExit):
        main(["tune", "--help"])
    text = capsys.readouterr().out
    assert "--storage DIR|URI" in text and "(default: runs/tune)" in text
