"""An experiment written by the flat-layout code (before packages per concern) still works.

``tests/fixtures/legacy_experiment`` is a search by commit 9e33918, killed after its first trial
(``tests/fixtures/make_legacy_experiment.py`` says how it was made): Ray pickled that code's
searcher, space, callbacks and checkpoint guard under the old module names, and the absolute path it
was written at. With today's code a copy of it elsewhere resumes to the end there, exports, reports,
and the old trial's numbers are reproduced.
"""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from glass_tune.cli.main import main
from glass_tune.config.schema import load_config
from glass_tune.data import generate_synthetic
from glass_tune.training.loop import fit
from tests.fixtures.make_legacy_experiment import DATA, NAME, STORAGE
from tests.helpers.searched import trial_dirs

pytestmark = pytest.mark.integration  # resumes a Ray search

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "legacy_experiment"
# the one trial the old code finished before it was killed
OLD_TRIAL = next(t for t in (FIXTURE / "weave").glob("trial_*") if (t / "run" / "metrics.json").is_file())


@pytest.fixture(scope="module")
def legacy_paths() -> Iterator[None]:
    """The data at the absolute path the old search recorded (its trial configs name it), one test run
    at a time; the experiment's own recorded location is kept free to show that nothing needs it."""
    DATA.parent.mkdir(parents=True, exist_ok=True)
    with (DATA.parent / "lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not DATA.is_dir():  # deterministic: seed 0, 64 px
            partial = DATA.with_name("data.partial")
            shutil.rmtree(partial, ignore_errors=True)
            generate_synthetic(partial, categories=["weave"], seed=0, size=64).rename(DATA)
        yield
        shutil.rmtree(STORAGE, ignore_errors=True)


def test_old_experiment_resumes_exports_and_reports(legacy_paths, tmp_path, capsys):
    import ray

    storage = tmp_path / "moved"  # not where the old search ran (STORAGE)
    experiment = storage / NAME
    shutil.rmtree(STORAGE, ignore_errors=True)
    shutil.copytree(FIXTURE, experiment)
    assert main(["status", str(experiment)]) == 0  # read before anything is rewritten
    assert "weave" in capsys.readouterr().out

    try:
        assert main(["tune", "--resume", "--name", NAME, "--storage", str(storage)]) == 0
    finally:
        ray.shutdown()
    trials = trial_dirs(experiment / "weave")
    assert len(trials) == 3 and all((t / "run" / "metrics.json").is_file() for t in trials)
    assert all(list(t.glob("checkpoint_*/checkpoint.pt")) for t in trials)  # written by the trials themselves
    assert (experiment / "weave" / "best_config.yaml").is_file()
    assert not STORAGE.exists()  # the recorded location was neither needed nor written

    assert main(["export", str(experiment), "--out", str(tmp_path / "best.yaml")]) == 0
    provenance = yaml.safe_load((tmp_path / "best.yaml").read_text())["provenance"]
    assert provenance["checkpoint"] and f"trial_{provenance['trial_id']}" in provenance["checkpoint"]
    assert provenance["checkpoint"].startswith(str(experiment))
    assert main(["export", str(experiment), "--format", "onnx", "--out", str(tmp_path / "best.onnx")]) == 0
    assert main(["report", str(experiment), "--out", str(tmp_path / "report")]) == 0
    assert (tmp_path / "report" / "report.html").stat().st_size > 10_000


def test_old_trial_numbers_are_reproduced(legacy_paths):
    """Same config and seed, today's code: the metrics the old code wrote to metrics.json, on CPU."""
    old = OLD_TRIAL / "run"
    recorded = json.loads((old / "metrics.json").read_text())
    again = fit(load_config(old / "config.yaml"))

    def figures(rows: list[dict]) -> str:  # all but wall times; as JSON, so a NaN (r_t in manifold mode) equals itself
        return json.dumps([{k: v for k, v in r.items() if k != "seconds"} for r in rows], sort_keys=True)

    assert figures(again.history) == figures(recorded["history"])
    # held-out figures the old code recorded are unchanged (today's run adds the decision figures at its threshold)
    assert {k: again.test[k] for k in recorded["test"]} == recorded["test"]
