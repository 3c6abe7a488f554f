"""The numbers a user gives on the command line: every numeric flag of every verb refuses NaN,
infinities and values out of range with one line naming the flag, exit 2, before anything is written."""

from __future__ import annotations

import argparse

import pytest

from glass_tune.cli.common import PORT, checked, config_flag
from glass_tune.cli.main import main
from glass_tune.config.schema import float_rule, int_rule


def test_checked_parses_the_number_and_holds_it_to_the_rule():
    ratio = checked(float_rule(0.0, 1.0, lo_open=True, hi_open=True))
    assert ratio("0.25") == 0.25 and ratio("1e-3") == 0.001
    assert checked(float_rule(0.0))("2") == 2.0 and isinstance(checked(float_rule(0.0))("2"), float)
    count = checked(int_rule(1))
    assert count("3") == 3
    for text in ("nan", "inf", "-inf", "0", "1.0", "abc", ""):
        with pytest.raises(argparse.ArgumentTypeError, match=rf"expected an integer >= 1, got '{text}'"):
            count(text)
    for text in ("nan", "inf", "0", "1", "-0.5"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"expected a number in \(0.0, 1.0\)"):
            ratio(text)
    with pytest.raises(argparse.ArgumentTypeError, match="expected a finite number, got 'nan'"):
        checked(float_rule())("nan")
    assert checked(float_rule())("-7.5") == -7.5


def test_config_flags_and_ports_use_their_rules():
    assert config_flag("val_ratio")("0.3") == 0.3 and config_flag("epochs")("4") == 4
    assert config_flag("seed")("4294967295") == 2**32 - 1
    with pytest.raises(argparse.ArgumentTypeError, match=r"expected an integer in \[0, 4294967295\]"):
        config_flag("seed")("4294967296")  # numpy's global seed would refuse it in every run
    assert PORT("0") == 0 and PORT("65535") == 65535
    for text in ("-1", "65536", "80.5"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"expected an integer in \[0, 65535\]"):
            PORT(text)


def _tune(verb: str, out) -> list[str]:
    storage = ["--storage", str(out)] + (["--address", "http://127.0.0.1:1"] if verb == "submit" else [])
    return [verb, *storage, "--name", "n"]


# verb -> its arguments besides the flag under test (OUT: a folder that must stay absent)
VERBS = {
    "predict": lambda out: ["predict", "--checkpoint", str(out / "ckpt.pt"), "x.png", "--out", str(out)],
    "train": lambda out: ["train", "--out", str(out)],
    "check-data": lambda out: ["check-data", "--data", str(out)],
    "synth": lambda out: ["synth", str(out)],
    "tune": lambda out: _tune("tune", out),
    "submit": lambda out: _tune("submit", out),
    "dashboard": lambda out: ["dashboard", str(out)],
}
TUNE_FLAGS = [
    ("--samples", "0"),
    ("--samples", "nan"),
    ("--epochs", "-1"),
    ("--grace-period", "0"),
    ("--reduction-factor", "1"),
    ("--max-concurrent", "0"),
    ("--max-concurrent-total", "-2"),
    ("--cpus-per-trial", "nan"),
    ("--cpus-per-trial", "inf"),
    ("--cpus-per-trial", "0"),
    ("--gpus-per-trial", "-1"),
    ("--gpus-per-trial", "-inf"),
    ("--seed", "-1"),
    ("--max-failures", "-1"),
    ("--checkpoint-every", "0"),
    ("--repeats", "0"),
    ("--confirm-top", "-1"),
    ("--confirm-seeds", "1"),
    ("--val-ratio", "nan"),
]
CASES = [
    *[("predict", "--threshold", v) for v in ("nan", "inf", "-1", "1.5")],
    ("predict", "--pixel-threshold", "nan"),
    *[("train", "--epochs", v) for v in ("0", "nan", "2.5")],
    ("train", "--seed", "-1"),
    *[("train", "--val-ratio", v) for v in ("nan", "inf", "1", "0")],
    ("check-data", "--seed", "-1"),
    ("check-data", "--val-ratio", "-inf"),
    ("synth", "--size", "8"),
    ("synth", "--seed", "nan"),
    *[("tune", flag, value) for flag, value in TUNE_FLAGS],
    *[("submit", flag, value) for flag, value in TUNE_FLAGS],
    ("dashboard", "--tensorboard-port", "70000"),
    ("dashboard", "--optuna-port", "-1"),
]


@pytest.mark.parametrize(("verb", "flag", "value"), CASES, ids=lambda x: str(x))
def test_a_bad_number_is_one_line_naming_the_flag_and_nothing_is_written(tmp_path, capsys, verb, flag, value):
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as exit_:
        main([*VERBS[verb](out), f"{flag}={value}"])  # "=": argparse reads a lone -inf as a flag
    assert exit_.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith(f"glass-tune {verb}: error: argument {flag}: expected ") and err[0].endswith(f"got '{value}'")
    assert not out.exists()


def test_a_missing_argument_still_shows_the_usage(capsys):
    with pytest.raises(SystemExit):
        main(["predict", "--checkpoint", "c.pt", "x.png"])
    err = capsys.readouterr().err
    assert err.startswith("usage: glass-tune predict") and "required: --out" in err
