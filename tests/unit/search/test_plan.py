"""The search record (search.yaml) as a search writes it and ``--resume`` reads it back into a plan, and
the resume command a search prints."""

from __future__ import annotations

import re
import shutil

import pytest
import yaml

from glass_tune.config.schema import GlassConfig
from glass_tune.experiment.search_record import record_time
from glass_tune.search.options import TuneOptions
from glass_tune.search.plan import resumed_search, save_search_record
from glass_tune.search.space import load_search_space
from glass_tune.util.errors import UserError


def test_resume_keeps_recorded_resources_unless_given(tmp_path):
    space = load_search_space("default")
    recorded = TuneOptions(name="r", storage=str(tmp_path), cpus_per_trial=4.0, gpus_per_trial=0.5, address="auto")
    save_search_record(base=GlassConfig(), space=space, options=recorded, categories=["weave"])
    asked = TuneOptions(name="r", storage=str(tmp_path), cpus_per_trial=1.0, gpus_per_trial=0.0, address="h:1")
    plan = resumed_search(asked)
    kept = plan.options
    assert (kept.cpus_per_trial, kept.gpus_per_trial, kept.address, plan.categories) == (4.0, 0.5, "h:1", ["weave"])
    assert plan.resume
    changed = resumed_search(asked, explicit=["gpus_per_trial"]).options
    assert (changed.cpus_per_trial, changed.gpus_per_trial) == (4.0, 0.0)
    record = yaml.safe_load((tmp_path / "r" / "search.yaml").read_text())
    assert record["options"]["gpus_per_trial"] == 0.5 and record_time(record["started_at"]) > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", record["started_at"])  # ISO 8601 with zone
    assert record_time(1.7e9) == 1.7e9  # experiments written before: a raw epoch float
    assert record_time("2026-01-01T01:00:00+01:00") == record_time("2026-01-01T00:00:00+00:00") == 1767225600.0


def test_printed_resume_command_is_complete():
    options = TuneOptions(name="n", storage="s3://b/p", address="10.0.0.1:6379", optuna_storage="postgresql://db/x")
    assert options.resume_command() == (
        "glass-tune tune --resume --name n --storage s3://b/p --address 10.0.0.1:6379 --optuna-storage postgresql://db/x"
    )


def test_a_moved_experiment_resumes_at_its_new_storage(tmp_path):
    space = load_search_space("default")
    save_search_record(
        base=GlassConfig(), space=space, options=TuneOptions(name="r", storage=str(tmp_path / "old")), categories=["weave"]
    )
    shutil.move(tmp_path / "old", tmp_path / "new")
    options = resumed_search(TuneOptions(name="r", storage=str(tmp_path / "new"))).options
    assert options.experiment.path == str(tmp_path / "new" / "r") and options.storage == str(tmp_path / "new")


def test_a_renamed_experiment_is_refused_instead_of_started_over_elsewhere(tmp_path):
    space = load_search_space("default")
    save_search_record(
        base=GlassConfig(), space=space, options=TuneOptions(name="r", storage=str(tmp_path)), categories=["weave"]
    )
    shutil.move(tmp_path / "r", tmp_path / "r2")
    with pytest.raises(UserError, match=r"started as 'r' .* rename the folder back to r and resume it with --name r$"):
        resumed_search(TuneOptions(name="r2", storage=str(tmp_path)))
