"""`glass-tune report` on one small finished search: plots, tables and figures equal the experiment's."""

from __future__ import annotations

import base64
import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import optuna
import pytest

from glass_tune.cli.main import main
from glass_tune.experiment.results import TrialRecord, trial_held_out
from glass_tune.experiment.storage import resolve
from glass_tune.report.sections import MIN_TRIALS_FOR_IMPORTANCE, importance_plot
from tests.helpers.report_page import ReportPage
from tests.helpers.searched import CATEGORIES, EPOCHS, trial_dirs
from tests.helpers.study import study_storage

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("shared-search")]  # the module fixture runs an embedded Ray search

PLOTS = (
    "best_so_far",
    "auroc_curves",
    "parallel_coordinates",
    "importance",
    "best_trial_overlays",
    "best_trial_roc_pro",
    "best_trial_histogram",
)
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def report(experiment, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(experiment), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def page(report):
    parser = ReportPage()
    parser.feed((report / "report.html").read_text())
    return parser


def _last_result(trial: Path) -> dict:
    return json.loads((trial / "result.json").read_text().strip().splitlines()[-1])


@pytest.fixture(scope="module")
def completed(experiment) -> dict[str, int]:
    """COMPLETE trials of each persisted study (ASHA-stopped trials are PRUNED there)."""
    counts = {}
    for category in CATEGORIES:
        study = optuna.load_study(study_name=f"rep/{category}", storage=study_storage(str(experiment)))
        counts[category] = len(study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    return counts


@pytest.fixture(scope="module")
def expected_plots(completed) -> set[str]:
    """Every plot, the importance one where the study has enough completed trials for it."""
    return {f"{c}-{p}" for c in CATEGORIES for p in PLOTS if p != "importance" or completed[c] >= MIN_TRIALS_FOR_IMPORTANCE}


def test_report_embeds_every_plot_and_writes_it_beside(completed, expected_plots, report, page):
    embedded = {img["data-plot"]: img["src"] for img in page.images}
    html = (report / "report.html").read_text()
    for n in completed.values():
        if n < MIN_TRIALS_FOR_IMPORTANCE:  # the study was found in the journal, and the count is its own
            assert f"this study has {n}" in html
    assert set(embedded) == expected_plots
    for plot_id, src in embedded.items():
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
        assert (report / f"{plot_id}.png").read_bytes() == png
    assert not re.search(r'src="(?!data:)', html), "the page must open offline: no external sources"


def test_trial_table_numbers_equal_the_experiment_results(experiment, page):
    for category in CATEGORIES:
        table = f"trials:{category}"
        trials = trial_dirs(experiment / category)
        assert len(trials) == 3
        for trial in trials:
            last, tid = _last_result(trial), trial.name.removeprefix("trial_")
            for key in ("best_score", "best_image_auroc", "best_pixel_auroc", "best_aupro"):
                assert page.cells[(table, tid, key)] == f"{last[key]:.4f}", (trial, key)
            assert page.cells[(table, tid, "epochs")] == str(last["epoch"])
            assert page.cells[(table, tid, "param:step")] == str(last["config"]["step"])
            test = json.loads((trial / "run" / "metrics.json").read_text())["test"]  # None: stopped before the end
            held_out = "" if test is None else f"{test['image_auroc']:.4f}"
            assert page.cells[(table, tid, "test_image_auroc")] == held_out
            state = page.cells[(table, tid, "state")]
            assert state == ("completed" if last["epoch"] == EPOCHS else "stopped early")
        normal = [t.name.removeprefix("trial_") for t in trials if _last_result(t)["config"]["learning_rate"] == 1e-4]
        assert [page.cells[(table, tid, "state")] for tid in normal] == [
            "stopped early"
        ]  # forced by REPORT_SPACE (tests/helpers/searched.py)


def test_summary_table_links_each_category_and_matches_the_summary(experiment, page):
    summary = {r["category"]: r for r in csv.DictReader((experiment / "summary.csv").open())}
    for category in CATEGORIES:
        assert page.cells[("summary:", category, "best_score")] == f"{float(summary[category]['best_score']):.4f}"
        assert page.cells[("summary:", category, "trials")] == summary[category]["trials"]
        assert page.cells[("summary:", category, "stopped")] == summary[category]["stopped_early"]
        assert f"cat-{category}" in page.links and f"cat-{category}" in page.ids


def test_held_out_figures_come_from_the_last_report_else_metrics_json(tmp_path):
    (tmp_path / "trial_a" / "run").mkdir(parents=True)
    (tmp_path / "trial_a" / "run" / "metrics.json").write_text(json.dumps({"test": {"image_auroc": 0.25, "pixel_auroc": 0.5}}))

    def held_out(last: dict, folder: str) -> dict | None:
        trial = TrialRecord(trial_id="a", status="TERMINATED", config={}, last_result=last, folder=folder)
        return trial_held_out(trial=trial, category_dir=resolve(str(tmp_path)))

    assert held_out({"test_image_auroc": 0.75, "test_aupro": 0.5}, "trial_a") == {"image_auroc": 0.75, "aupro": 0.5}
    assert held_out({"best_score": 1.0}, "trial_a") == {"image_auroc": 0.25, "pixel_auroc": 0.5}
    assert held_out({}, "none") is None


def test_importance_of_a_study_is_fanova_over_its_completed_trials():
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0, 1) + 0.01 * t.suggest_float("y", 0, 1), n_trials=8)
    png, note = importance_plot(study)
    assert png is not None and png[:8] == b"\x89PNG\r\n\x1a\n"
    assert "fANOVA" in note and "over 8 completed trials" in note


def test_too_few_trials_for_importance_is_a_stated_message():
    study = optuna.create_study(direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=1)
    png, note = importance_plot(study)
    assert png is None and "needs at least 3 completed trials; this study has 1" in note


@pytest.mark.integration
def test_chromium_renders_every_plot(expected_plots, report, tmp_path):
    chromium = shutil.which("chromium")
    assert chromium, "Chromium is required (make test installs the Debian package chromium)"
    page = tmp_path / "report.html"
    probe = (
        "<script>window.addEventListener('load',()=>{for(const i of document.images){"
        "const r=i.getBoundingClientRect();i.setAttribute('data-rendered',"
        "i.naturalWidth+'x'+i.naturalHeight+'x'+Math.round(r.width)+'x'+Math.round(r.height));}});</script>"
    )
    page.write_text((report / "report.html").read_text().replace("</body>", probe + "</body>"))
    base = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,2400"]
    dom = subprocess.run(
        [*base, "--virtual-time-budget=10000", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    ).stdout
    rendered = re.findall(r'data-plot="([^"]+)"[^>]*data-rendered="(\d+)x(\d+)x(\d+)x(\d+)"', dom)
    assert {p for p, *_ in rendered} == expected_plots
    for plot, *sizes in rendered:
        assert all(int(s) > 0 for s in sizes), (plot, sizes)
    shot = tmp_path / "screenshot.png"
    subprocess.run([*base, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=180, check=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
