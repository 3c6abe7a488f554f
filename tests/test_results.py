"""Unit tests of the search-result helpers, the storage layer and the search record (no Ray)."""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path

import pytest
import yaml

import glass_tune
from glass_tune.config.schema import GlassConfig
from glass_tune.experiment.results import (
    Objective,
    TrialRecord,
    best_trial,
    error_message,
    held_out_figures,
    record_time,
    stopped_early,
    summarize,
    write_summary,
)
from glass_tune.experiment.storage import resolve
from glass_tune.search.driver import TuneOptions, load_search_record, save_search_record
from glass_tune.search.space import load_search_space
from glass_tune.util.errors import UserError


def _trial(tid: str, value: float, *, epoch: int = 4, status: str = "TERMINATED", error: str | None = None) -> TrialRecord:
    return TrialRecord(
        trial_id=tid,
        status=status,
        config={"epochs": 4, "searched": ["step"], "step": 3},
        last_result={"loss": value, "best_score": -value, "epoch": epoch, "best_epoch": epoch, "test_image_auroc": 0.9},
        error=error,
    )


def test_best_trial_follows_metric_and_mode():
    trials = [_trial("a", 2.0), _trial("b", 1.0), _trial("c", math.nan)]
    assert best_trial(trials, objective=Objective("loss", "min")).trial_id == "b"
    assert best_trial(trials, objective=Objective("loss", "max")).trial_id == "a"
    assert best_trial(trials, objective=Objective("best_score", "max")).trial_id == "b"


def test_summary_counts_stopped_and_errored_and_names_errors(tmp_path):
    trials = [_trial("a", 2.0, epoch=1), _trial("b", 1.0), _trial("c", 0.5, status="ERROR", error="DataError: gone")]
    outcome = summarize(trials, category="weave", objective=Objective("loss", "min"))
    assert (outcome.best_trial, outcome.stopped_early, outcome.errors) == ("b", 1, ["c: DataError: gone"])
    assert outcome.params == {"step": 3} and outcome.held_out == {"image_auroc": 0.9}
    csv_path, md_path = write_summary(experiment=resolve(str(tmp_path)), outcomes=[outcome])
    assert "DataError: gone" in Path(csv_path.path).read_text() and "| weave |" in Path(md_path.path).read_text()


def test_small_rules():
    assert stopped_early(last_result={"epoch": 2}, config={"epochs": 3})
    assert not stopped_early(last_result={"epoch": 3}, config={"epochs": 3})
    assert held_out_figures(last_result={"epoch": 3}) is None

    class Wrapped(Exception):
        cause = ValueError("first line\n\nthe reason")

    assert error_message(Wrapped("traceback ...")) == "ValueError: the reason"


def test_local_location_reads_writes_and_lists(tmp_path):
    loc = resolve(str(tmp_path / "exp"))
    (loc / "a" / "x.txt").write_text("hello")
    assert (loc / "a" / "x.txt").read_text() == "hello" and (loc / "a").is_dir()
    assert [d.name for d in loc.subdirs()] == ["a"] and loc.parent.uri == str(tmp_path)
    with pytest.raises(UserError, match="cannot read"):
        (loc / "missing.txt").read_text()


def test_unwritable_storage_is_one_line():
    with pytest.raises(UserError, match=r"--storage /proc/glass-tune: cannot write there"):
        resolve("/proc/glass-tune").check_writable()


def test_resume_keeps_recorded_resources_unless_given(tmp_path):
    space = load_search_space("default")
    recorded = TuneOptions(name="r", storage=str(tmp_path), cpus_per_trial=4.0, gpus_per_trial=0.5, address="auto")
    save_search_record(GlassConfig(), space, recorded, ["weave"])
    asked = TuneOptions(name="r", storage=str(tmp_path), cpus_per_trial=1.0, gpus_per_trial=0.0, address="h:1")
    _, _, kept, categories = load_search_record(asked)
    assert (kept.cpus_per_trial, kept.gpus_per_trial, kept.address, categories) == (4.0, 0.5, "h:1", ["weave"])
    _, _, changed, _ = load_search_record(asked, explicit=["gpus_per_trial"])
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


def _imports(path: Path, package: Path) -> set[str]:
    """glass_tune modules ``path`` imports anywhere (top level, TYPE_CHECKING blocks, functions).

    ``from pkg import submodule`` depends on the submodule, not on ``pkg/__init__``.
    """

    def is_module(name: str) -> bool:
        base = package.parent / name.replace(".", "/")
        return name.startswith("glass_tune") and (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file())

    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if is_module(a.name))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and is_module(node.module):
            subs = [f"{node.module}.{a.name}" for a in node.names if is_module(f"{node.module}.{a.name}")]
            found.update(subs if len(subs) == len(node.names) else [node.module, *subs])
    return found


def test_no_import_circle_in_the_package():
    package = Path(glass_tune.__file__).parent
    graph = {}
    for path in package.rglob("*.py"):
        module = ".".join(path.relative_to(package.parent).with_suffix("").parts).removesuffix(".__init__")
        graph[module] = _imports(path, package) - {module}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join([*trail[trail.index(nxt) :], nxt]) if nxt in trail else nxt)
            if nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
