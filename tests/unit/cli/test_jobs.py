"""``submit`` passes the tune options through to the job's ``tune`` as given."""

from __future__ import annotations

from glass_tune.cli.jobs import _SUBMIT_OWN, _tune_argv
from glass_tune.cli.main import build_parser, main


def test_submit_passes_the_tune_options_through():
    parser = build_parser()
    argv = [
        "submit",
        "--address",
        "http://h:8265",
        "--storage",
        "/shared/runs",
        "--category",
        "a",
        "b",
        "--set",
        "step=3",
        "--set",
        "svd=1",
        "--samples",
        "4",
        "--seed",
        "0",
        "--resume",
        "--name",
        "x",
        "--env",
        "K=V",
    ]
    args = parser.parse_args(argv)
    passed = _tune_argv(args.tune_parser, args)
    assert passed == ["--set", "step=3", "--set", "svd=1", "--category", "a", "b", "--samples", "4", "--seed", "0", "--resume"]
    quiet = parser.parse_args(["submit", "-q", *argv[1:]])
    assert _tune_argv(quiet.tune_parser, quiet)[-1] == "-q"  # verbosity travels as a flag, not a value
    again = parser.parse_args(["tune", *passed])  # the job's tune sees every option as given, defaults as defaults
    passed_through = {a.dest for a in args.tune_parser._actions if a.option_strings} - {"help", *_SUBMIT_OWN}
    assert {d: getattr(again, d) for d in passed_through} == {d: getattr(args, d) for d in passed_through}


def test_submit_refuses_a_model_that_cannot_be_built_before_it_connects(tmp_path, capsys):
    args = ["submit", "--address", "http://127.0.0.1:1", "--storage", str(tmp_path), "--config", "tiny"]
    assert main([*args, "--set", "backbone=inception_v3", "--set", "layers=[Mixed_7c]"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("glass-tune submit: error: input_shape [64, 64]: backbone 'inception_v3'")
