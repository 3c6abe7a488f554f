"""``glass-tune check-data`` tables, the CLI data flags, and the driver-side check of train and tune."""

from __future__ import annotations

from pathlib import Path

import pytest

from glass_tune.cli.common import config_from_args
from glass_tune.cli.main import build_parser, main
from glass_tune.config.schema import from_mapping
from glass_tune.training.data_check import check_category, format_report, select_categories
from tests.helpers.data_layouts import make_folder, make_mvtec, make_visa

LAYOUTS = {
    "mvtec": (make_mvtec, "widget", "crack"),
    "visa": (make_visa, "candle", "anomaly"),
    "folder": (make_folder, "part", "dent"),
}


@pytest.mark.parametrize("fmt", list(LAYOUTS))
def test_table_for_each_layout(fmt: str, tmp_path: Path, capsys) -> None:
    make, category, defect = LAYOUTS[fmt]
    root = make(tmp_path.resolve())
    assert main(["check-data", "--data", str(root)]) == 0
    out = capsys.readouterr().out
    out = out[out.index(f"{category}  (") :]  # log lines (e.g. the svd choice) may come first
    assert out.startswith(f"{category}  ({fmt} layout, {root})")
    rows = {line.split()[0]: line.split()[1:] for line in out.splitlines() if line.startswith("  ") and len(line.split()) == 6}
    assert rows["good"][:3] == ["8", "2", "2"] and rows[defect][0] == "-"
    assert rows["total"][:4] == ["8", "4", "4", "4/4"] and rows["total"][4].endswith("%")
    assert "image sizes: 80x60 (16)" in out and "problems: none" in out


def test_all_categories_of_the_synthetic_set(synthetic_root: Path, capsys) -> None:
    assert main(["check-data", "--data", str(synthetic_root), "--category", "all", "--val-ratio", "0.2", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert [line.split()[0] for line in out.splitlines() if "layout" in line] == ["marble", "washer", "weave"]
    assert out.count("val_ratio 0.2, seed 3") == 3


def test_validation_columns_follow_the_source(tmp_path: Path) -> None:
    root = make_mvtec(tmp_path / "d")
    official = check_category(from_mapping({"data_root": str(root), "val_source": "test"}))
    assert (official.types["good"].val, official.types["good"].test) == (4, 0)
    val_root = make_mvtec(tmp_path / "v", n_good=3, defects={"crack": 1})
    separate = check_category(from_mapping({"data_root": str(root), "val_source": "dir", "val_dir": str(val_root)}))
    assert (separate.types["good"].val, separate.types["good"].test, separate.types["crack"].val) == (3, 4, 1)
    assert "val_dir" in format_report(separate)


def test_every_problem_is_listed_and_the_first_is_the_error(tmp_path: Path, capsys) -> None:
    root = make_mvtec(tmp_path.resolve())
    broken = [root / "widget" / "train" / "good" / name for name in ("000.png", "001.png")]
    for path in broken:
        path.write_bytes(b"")
    assert main(["check-data", "--data", str(root)]) == 2
    captured = capsys.readouterr()
    assert all(str(p) in captured.out for p in broken)
    assert f"error: {broken[0]}: cannot read image" in captured.err and "(1 more; glass-tune check-data" in captured.err


def test_ambiguous_layout_needs_format(tmp_path: Path, capsys) -> None:
    root = make_mvtec(tmp_path.resolve())
    make_folder(root, "other")
    assert main(["check-data", "--data", str(root)]) == 2
    assert f"{root}: ambiguous dataset layout" in capsys.readouterr().err
    assert main(["check-data", "--data", str(root), "--layout", "folder"]) == 0
    assert capsys.readouterr().out.startswith("other  (folder layout")


def test_select_categories(tmp_path: Path) -> None:
    root = make_mvtec(make_mvtec(tmp_path, "b"), "a")
    config = from_mapping({"data_root": str(root)})
    assert select_categories(config, None) == ["a"]
    assert select_categories(config, ["all"]) == ["a", "b"]
    assert select_categories(config.replace(category="b"), None) == ["b"]


def test_data_flags_map_onto_the_config() -> None:
    args = build_parser().parse_args(["train", "--layout", "visa", "--val-source", "test", "--val-ratio", "0.3"])
    config = config_from_args(args)
    assert (config.data_format, config.val_source, config.val_ratio) == ("visa", "test", 0.3)
    assert config_from_args(build_parser().parse_args(["train"])).val_source == "auto"
    with pytest.raises(SystemExit):
        build_parser().parse_args(["tune", "--val-source", "train"])


def test_train_prints_warnings_before_training(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    import glass_tune.training.loop as training

    root = make_mvtec(tmp_path.resolve())
    (root / "widget" / "ground_truth" / "crack" / "000_mask.png").unlink()
    monkeypatch.setattr(training, "fit", lambda *a, **k: pytest.fail("the check should stop first"))
    (root / "widget" / "test" / "good" / "000.png").write_bytes(b"")
    random_init = ["--set", "pre_trained=false"]  # the model check comes first: no ImageNet weights offline
    assert main(["train", "--data", str(root), "--out", str(tmp_path / "out"), *random_init]) == 2
    err = capsys.readouterr().err
    assert "warning: [widget]" in err and "000_mask.png" in err
    assert not (tmp_path / "out").exists()


def test_tune_checks_every_category_before_the_experiment_exists(tmp_path: Path, capsys) -> None:
    root = make_mvtec(make_mvtec(tmp_path.resolve() / "d", "a"), "b")
    bad = root / "b" / "test" / "good" / "002.jpeg"
    bad.write_bytes(b"\xff\xd8\xff")
    storage = tmp_path / "runs"
    args = ["tune", "--data", str(root), "--storage", str(storage), "--name", "x", "--confirm-top", "0", "--samples", "1"]
    args += ["--set", "pre_trained=false"]  # the model check comes first: no ImageNet weights offline
    assert main([*args, "--category", "all"]) == 2
    assert str(bad) in capsys.readouterr().err and not (storage / "x").exists()
    assert main([*args, "--category", "a", "--format", "folder"]) == 2  # --format reaches the config
    assert f"{root / 'a' / 'train'}: no training images" in capsys.readouterr().err and not (storage / "x").exists()


def test_old_format_flag_still_names_the_layout_with_a_deprecation_line(capsys):
    args = build_parser().parse_args(["check-data", "--format", "visa"])
    assert args.data_format == "visa"
    assert "--format for the dataset layout is deprecated, use --layout" in capsys.readouterr().err
