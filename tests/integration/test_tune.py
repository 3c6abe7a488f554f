"""`glass-tune tune` end to end on CPU with embedded Ray: trials, TensorBoard, Optuna study, export."""

from __future__ import annotations

import contextlib
import csv
import html
import io
import json
import math
from pathlib import Path

import optuna
import pytest
import yaml
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from glass_tune.cli.main import main
from glass_tune.config.schema import load_config
from glass_tune.experiment.results import load_trials
from glass_tune.experiment.storage import resolve
from glass_tune.training.loop import fit
from glass_tune.training.repeats import SEED_STRIDE
from tests.helpers import TINY, TWO_PARAM_SPACE
from tests.helpers.searched import trial_dirs
from tests.helpers.study import study_storage

pytestmark = pytest.mark.integration  # embedded Ray searches, subprocess drivers, kills


@pytest.fixture(scope="module")
def ray_session():
    """One embedded Ray for the module; the CLI attaches to it instead of starting another."""
    import ray

    yield
    ray.shutdown()


def _write(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory, synthetic_root):
    d = tmp_path_factory.mktemp("tune-inputs")
    base = {k: v for k, v in TINY.items() if k != "epochs"}
    return {
        "config": _write(d / "tiny.yaml", base),
        "space": _write(d / "space.yaml", TWO_PARAM_SPACE),
        "data": synthetic_root,
        "dir": d,
    }


def _tune_args(files, storage: Path, name: str, *extra: str) -> list[str]:
    return [
        "tune",
        "--data",
        str(files["data"]),
        "--category",
        "weave",
        "--config",
        str(files["config"]),
        "--space",
        str(files["space"]),
        "--storage",
        str(storage),
        "--name",
        name,
        "--confirm-top",
        "0",
        *extra,
    ]


@pytest.fixture(scope="module")
def experiment(ray_session, files, tmp_path_factory):
    """A search with its confirmation stage (the best other trial and the default, 2 fresh seeds);
    the console is kept in console.txt beside the experiment."""
    storage = tmp_path_factory.mktemp("tune-runs")
    args = _tune_args(files, storage, "smoke", "--samples", "3", "--epochs", "2", "--scheduler", "fifo")
    with contextlib.redirect_stdout(io.StringIO()) as console:
        code = main([*args, "--confirm-top", "1", "--confirm-seeds", "2"])
    (storage / "console.txt").write_text(console.getvalue())
    assert code == 0
    return storage / "smoke"


def test_search_ends_with_the_finalists_raced_on_fresh_seeds(experiment):
    """Console, summary, status record, export and the confirmation trials agree on the verdict."""
    cat = experiment / "weave"
    record = json.loads((cat / "confirmation.json").read_text())
    assert record["seeds"] == [1, 2]  # the search trained every trial with seed 0
    confirm = load_trials(category_dir=resolve(str(cat / "confirm")))
    runs = sorted((t.config["finalist"], t.config["seed"]) for t in confirm)
    names = [row["name"] for row in record["finalists"]]
    assert names[0] == "default" and len(names) == 2
    assert runs == sorted((n, s) for n in names for s in (1, 2))
    assert all(t.status == "TERMINATED" and t.last_result["epoch"] == 2 for t in confirm)  # no early stopping
    for row in record["finalists"]:  # the statistics are those of the confirmation trials themselves
        values = [
            t.last_result["best_score"]
            for t in sorted(confirm, key=lambda t: t.config["seed"])
            if t.config["finalist"] == row["name"]
        ]
        assert row["validation"] == pytest.approx(values)
        assert row["validation_interval"]["mean"] == pytest.approx(sum(values) / 2)
    console = (experiment.parent / "console.txt").read_text()
    assert "| finalist | search value | validation score |" in console
    assert f"[weave] verdict: {record['line']}" in console
    assert record["line"] in (experiment / "summary.md").read_text()
    row = next(csv.DictReader((experiment / "summary.csv").open()))
    assert row["verdict"] == record["line"] and row["exported"] == record["exported"]
    exported = yaml.safe_load((cat / "best_config.yaml").read_text())
    provenance = exported["provenance"]
    assert provenance["confirmation"]["verdict"] == record["line"]
    chosen = {t.trial_id: t for t in confirm if t.config["finalist"] == record["exported"]}
    assert provenance["trial_id"] in chosen and exported["seed"] == chosen[provenance["trial_id"]].config["seed"]
    best_seed = max(chosen.values(), key=lambda t: t.last_result["best_score"])
    assert provenance["trial_id"] == best_seed.trial_id  # of the exported finalist's runs, the best by validation


def test_search_writes_best_config_summary_and_study(experiment):
    cat = experiment / "weave"
    assert (cat / "best_config.yaml").is_file()
    assert (experiment / "search.yaml").is_file()
    rows = list(csv.DictReader((experiment / "summary.csv").open()))
    assert [r["category"] for r in rows] == ["weave"]
    assert rows[0]["trials"] == "3" and rows[0]["errored"] == "0"
    assert "| weave |" in (experiment / "summary.md").read_text()
    study = optuna.load_study(study_name="smoke/weave", storage=study_storage(experiment))
    states = [t.state for t in study.trials]
    assert states == [optuna.trial.TrialState.COMPLETE] * 3
    assert study.trials[0].params == {"step": 5, "gaussian_noise_std": 0.015}  # the paper point comes first
    assert len(trial_dirs(cat)) == 3


def test_every_trial_has_auroc_curves_in_tensorboard(experiment):
    confirm = trial_dirs(experiment / "weave" / "confirm")
    assert len(confirm) == 4
    for trial in trial_dirs(experiment / "weave") + confirm:
        acc = EventAccumulator(str(trial))
        acc.Reload()
        assert [e.step for e in acc.Scalars("auroc/image")] == [1, 2]
        assert [e.step for e in acc.Scalars("auroc/pixel")] == [1, 2]
        assert len(acc.Scalars("roc/image")) == 101
        start = plugin_data_pb2.HParamsPluginData.FromString(acc.PluginTagToContent("hparams")["_hparams_/session_start_info"])
        hparams = set(start.session_start_info.hparams)
        if trial in confirm:  # a confirmation run also names its finalist and seed
            assert hparams - {"finalist", "seed"} == {"step", "gaussian_noise_std"}
        else:
            assert hparams == {"step", "gaussian_noise_std"}
        metrics = json.loads((trial / "run" / "metrics.json").read_text())
        assert len(metrics["history"]) == 2


def test_export_yaml_retrains_to_the_same_score(experiment, tmp_path):
    out = tmp_path / "best.yaml"
    assert main(["export", str(experiment), "--out", str(out)]) == 0
    exported = yaml.safe_load(out.read_text())
    config = load_config(out)
    assert exported["provenance"]["category"] == "weave"
    assert set(exported["provenance"]["searched_params"]) == {"step", "gaussian_noise_std"}
    assert exported["provenance"]["val_source"] == "split"
    assert set(exported["provenance"]["held_out_test"]) >= {"image_auroc", "pixel_auroc"}
    result = fit(config)
    assert result.best["score"] == pytest.approx(exported["provenance"]["metrics"]["score"], abs=1e-6)


@pytest.mark.parametrize("fmt", ["json", "anomalib", "official"])
def test_other_export_formats(experiment, fmt, tmp_path):
    out = tmp_path / f"best.{fmt}"
    assert main(["export", str(experiment / "weave"), "--format", fmt, "--out", str(out)]) == 0
    text = out.read_text()
    best = yaml.safe_load((experiment / "weave" / "best_config.yaml").read_text())
    if fmt == "json":
        assert json.loads(text)["step"] == best["step"]
    elif fmt == "anomalib":
        doc = yaml.safe_load(text)
        assert doc["model"]["class_path"] == "anomalib.models.Glass"
        assert doc["model"]["init_args"]["step"] == best["step"]
        assert doc["model"]["init_args"]["gaussian_noise_std"] == best["gaussian_noise_std"]
    else:
        assert f"--step {best['step']}" in text and "--distribution" in text and "main.py" in text


def test_status_reads_a_finished_experiment(experiment, capsys):
    assert main(["status", str(experiment)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{experiment}: best_score (max), elapsed ")
    best = yaml.safe_load((experiment / "weave" / "best_config.yaml").read_text())["provenance"]
    record = json.loads((experiment / "weave" / "confirmation.json").read_text())
    trials = load_trials(category_dir=resolve(str(experiment / "weave")))
    search_best = max(trials, key=lambda t: t.last_result["best_score"])
    assert out[1] == (
        f"[weave] finished: 0 running, 0 pending, 3 finished, 0 stopped early, 0 errored of 3 | "
        f"best {search_best.last_result['best_score']:.4g} ({search_best.trial_id})"
    )
    names = ", ".join(r["name"] for r in record["finalists"])
    assert out[2] == f"[weave] confirmation of {names}: 0 running, 0 pending, 4 finished, 0 errored of 4"
    assert out[3] == f"[weave] verdict: {record['line']}"
    assert best["confirmation"]["verdict"] == record["line"]


def test_status_of_a_folder_that_is_no_experiment(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert "missing search.yaml" in capsys.readouterr().err


def test_resuming_a_finished_experiment_says_so(experiment, files, capsys):
    storage = experiment.parent
    assert main(_tune_args(files, storage, "smoke", "--resume")) == 0
    assert "already finished" in capsys.readouterr().out


def test_errored_trial_is_named_and_the_search_goes_on(ray_session, files, tmp_path, capsys):
    space = _write(
        tmp_path / "lr.yaml",
        {
            "params": {"learning_rate": {"type": "categorical", "choices": [1.0e4, 1.0e-4]}},
            "points_to_evaluate": [{"learning_rate": 1.0e4}, {"learning_rate": 1.0e-4}],
        },
    )
    args = _tune_args(files, tmp_path, "err", "--samples", "2", "--epochs", "1", "--scheduler", "fifo")
    args[args.index("--space") + 1] = str(space)
    assert main(args) == 0
    out, err = capsys.readouterr()
    assert "ERRORED" in out and "training diverged" in out
    assert err.strip().splitlines()[-1].startswith("warning: weave: 2 trials, 1 errored (see glass-tune status ")
    rows = list(csv.DictReader((tmp_path / "err" / "summary.csv").open()))
    assert rows[0]["errored"] == "1" and "training diverged" in rows[0]["errors"]
    assert rows[0]["best_score"] and not math.isnan(float(rows[0]["best_score"]))


def test_asha_stops_weak_trials_early(ray_session, files, tmp_path):
    # One trial at a time: ASHA's decisions depend on arrival order, which is then fixed too.
    args = _tune_args(
        files,
        tmp_path,
        "asha",
        "--samples",
        "6",
        "--epochs",
        "4",
        "--grace-period",
        "1",
        "--reduction-factor",
        "2",
        "--seed",
        "3",
        "--max-concurrent",
        "1",
    )
    assert main(args) == 0
    epochs = []
    for trial in trial_dirs(tmp_path / "asha" / "weave"):
        history = json.loads((trial / "run" / "metrics.json").read_text())["history"]
        epochs.append(len(history))
    assert len(epochs) == 6
    assert min(epochs) < 4 and max(epochs) == 4
    rows = list(csv.DictReader((tmp_path / "asha" / "summary.csv").open()))
    stopped = int(rows[0]["stopped_early"])
    assert stopped == sum(1 for e in epochs if e < 4) >= 1
    study = optuna.load_study(study_name="asha/weave", storage=study_storage(tmp_path / "asha"))
    pruned = [t for t in study.trials if t.state == optuna.trial.TrialState.PRUNED]
    assert len(pruned) == stopped
    assert all(t.intermediate_values and max(t.intermediate_values) < 4 for t in pruned)
    assert [t.state for t in study.trials].count(optuna.trial.TrialState.COMPLETE) == 6 - stopped


def test_space_metric_and_mode_min_are_honoured(ray_session, files, tmp_path):
    """A space minimising the training loss: study direction, best trial, summary and export follow it."""
    space = _write(tmp_path / "min.yaml", {**TWO_PARAM_SPACE, "metric": "loss", "mode": "min"})
    args = _tune_args(files, tmp_path, "min", "--samples", "3", "--epochs", "2", "--seed", "1")
    args[args.index("--space") + 1] = str(space)
    assert main(args) == 0
    exp = tmp_path / "min"
    study = optuna.load_study(study_name="min/weave", storage=study_storage(exp))
    assert study.direction == optuna.study.StudyDirection.MINIMIZE
    trials = load_trials(category_dir=resolve(str(exp / "weave")))
    losses = {t.trial_id: t.last_result["loss"] for t in trials}
    lowest = min(losses, key=losses.get)
    assert max(losses.values()) > losses[lowest]  # the choice is not trivial
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert finished and all(t.value == losses[t.system_attrs["ray_trial_id"]] for t in finished)
    exported = yaml.safe_load((exp / "weave" / "best_config.yaml").read_text())["provenance"]
    assert exported["trial_id"] == lowest and exported["objective"] == {"metric": "loss", "mode": "min", "value": losses[lowest]}
    assert list(csv.DictReader((exp / "summary.csv").open()))[0]["best_trial"] == lowest


def test_categories_run_concurrently_under_a_total_limit(ray_session, files, tmp_path):
    args = _tune_args(
        files, tmp_path, "two", "--samples", "2", "--epochs", "1", "--scheduler", "fifo", "--max-concurrent-total", "1"
    )
    args[args.index("--category") + 1 : args.index("--category") + 2] = ["weave", "marble"]
    assert main(args) == 0
    exp = tmp_path / "two"
    assert [r["category"] for r in csv.DictReader((exp / "summary.csv").open())] == ["weave", "marble"]
    spans = []  # (start, end) of every trial of both categories, from Ray's own result records
    for category in ("weave", "marble"):
        for trial in trial_dirs(exp / category):
            rows = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
            spans.append((rows[0]["timestamp"] - rows[0]["time_this_iter_s"], rows[-1]["timestamp"]))
    spans.sort()
    assert len(spans) == 4
    assert all(end <= nxt_start + 1 for (_, end), (nxt_start, _) in zip(spans, spans[1:], strict=False))  # one at a time
    # both category searches were set up together, not one after the other
    started = [(exp / c / "tuner.pkl").stat().st_mtime for c in ("weave", "marble")]
    assert abs(started[0] - started[1]) < min(end - start for start, end in spans)


def test_repeats_trials_report_the_mean_of_their_seeds(ray_session, files, tmp_path):
    """--repeats inside real Ray trials: each trial trains its seeds in lockstep, and what the study,
    the summary and the export see is the per-epoch mean curve of those seeds' own metrics.json."""
    args = _tune_args(files, tmp_path, "rep", "--samples", "2", "--epochs", "2", "--scheduler", "fifo", "--repeats", "2")
    assert main(args) == 0
    exp = tmp_path / "rep"
    study = optuna.load_study(study_name="rep/weave", storage=study_storage(exp))
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.COMPLETE] * 2
    values = {t.system_attrs["ray_trial_id"]: t.value for t in study.trials}
    held_out = {}
    for trial in trial_dirs(exp / "weave"):
        seeds = sorted((trial / "run").iterdir())
        assert [p.name for p in seeds] == ["seed_0", f"seed_{SEED_STRIDE}"]
        docs = [json.loads((p / "metrics.json").read_text()) for p in seeds]
        curves = [[row["score"] for row in doc["history"]] for doc in docs]
        assert curves[0] != curves[1]  # two different seeds, not one run twice
        mean_curve = [sum(pair) / 2 for pair in zip(*curves, strict=True)]
        trial_id = trial.name.removeprefix("trial_")
        assert values[trial_id] == pytest.approx(max(mean_curve), abs=1e-9)
        held_out[trial_id] = sum(doc["test"]["image_auroc"] for doc in docs) / 2
    exported = yaml.safe_load((exp / "weave" / "best_config.yaml").read_text())["provenance"]
    assert exported["objective"]["value"] == pytest.approx(max(values.values()), abs=1e-9)
    assert exported["held_out_test"]["image_auroc"] == pytest.approx(held_out[exported["trial_id"]], abs=1e-9)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--address", "127.0.0.1:1"], "--address 127.0.0.1:1: no Ray cluster answers there"),
        (["--address", "nonsense"], "expected auto, HOST:PORT or ray://HOST:PORT"),
        (["--set", "step=3"], "'step' is searched by space"),
    ],
)
def test_bad_tune_input_fails_before_any_trial(files, tmp_path, capsys, extra, needle):
    code = main(_tune_args(files, tmp_path, "bad", *extra))
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "bad").exists()  # no search.yaml before the address is known to work


def test_gpus_per_trial_without_a_gpu(files, tmp_path, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # the same check on a CUDA machine
    assert main(_tune_args(files, tmp_path, "gpu", "--gpus-per-trial", "1")) == 2
    assert "--gpus-per-trial 1.0: this machine has no GPU" in capsys.readouterr().err
    assert not (tmp_path / "gpu").exists()


@pytest.mark.parametrize(
    ("space", "needle"),
    [
        ({"params": {"stepp": {"type": "int", "low": 1, "high": 3}}}, "stepp"),
        ({"params": {"step": {"type": "int", "low": 5, "high": 5}}}, "step"),
    ],
)
def test_bad_space_fails_before_ray(files, tmp_path, capsys, space, needle):
    path = _write(tmp_path / "s.yaml", space)
    args = _tune_args(files, tmp_path, "bad", "--samples", "1")
    args[args.index("--space") + 1] = str(path)
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "s.yaml" in err and needle in err
    assert not (tmp_path / "bad").exists()


def test_missing_space_file(files, tmp_path, capsys):
    args = _tune_args(files, tmp_path, "bad")
    args[args.index("--space") + 1] = str(tmp_path / "nope.yaml")
    assert main(args) == 2
    assert "nope.yaml" in capsys.readouterr().err


def test_existing_experiment_needs_resume(experiment, files, capsys):
    assert main(_tune_args(files, experiment.parent, "smoke")) == 2
    assert "experiment exists (pass --resume" in capsys.readouterr().err


def test_report_shows_the_finalists_and_the_verdict(experiment, tmp_path):
    assert main(["report", str(experiment), "--out", str(tmp_path), "--device", "cpu"]) == 0
    page = (tmp_path / "report.html").read_text()
    record = json.loads((experiment / "weave" / "confirmation.json").read_text())
    assert "<h3>Finalists on fresh seeds</h3>" in page and html.escape(record["line"]) in page
    for row in record["finalists"]:
        assert f'data-finalist="{row["name"]}"' in page
    assert (tmp_path / "weave-finalists.png").stat().st_size > 1000
