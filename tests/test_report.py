"""`glass-tune report`, `dashboard` and `export --format onnx` on one small finished search."""

from __future__ import annotations

import base64
import contextlib
import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from html.parser import HTMLParser
from pathlib import Path

import optuna
import pytest
import yaml

from glass_tune.cli.main import main
from glass_tune.experiment.results import TrialRecord, trial_held_out
from glass_tune.experiment.storage import resolve
from glass_tune.report.build import MIN_TRIALS_FOR_IMPORTANCE, importance_plot
from tests.helpers import write_tiny_config
from tests.study_helpers import study_storage
from tests.test_tune import SPACE  # the same small space as the tuner tests

pytestmark = pytest.mark.integration  # the module fixture runs an embedded Ray search

CATEGORIES = ("weave", "washer")
EPOCHS = 2
PLOTS = (
    "best_so_far",
    "auroc_curves",
    "parallel_coordinates",
    "importance",
    "best_trial_overlays",
    "best_trial_roc_pro",
    "best_trial_histogram",
)
# A stopped trial without depending on what training happens to score: the first trial's learning
# rate saturates the discriminator (constant scores: image and pixel AUROC exactly 0.5, score 1.0);
# the second trains normally and the tiny random-init model scores below that at ASHA's first rung
# (pixel AUROC ~0.2), so ASHA stops it there.
REPORT_SPACE = {
    **SPACE,
    "params": {**SPACE["params"], "learning_rate": {"type": "float", "low": 1e-5, "high": 10.0, "log": True}},
    "points_to_evaluate": [
        {**SPACE["points_to_evaluate"][0], "learning_rate": 10.0},
        {**SPACE["points_to_evaluate"][0], "learning_rate": 1e-4},
    ],
}
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
def experiment(tmp_path_factory, synthetic_root):
    """3 trials x 2 epochs per category, ASHA one trial at a time; the second is stopped early (REPORT_SPACE)."""
    import ray

    d = tmp_path_factory.mktemp("report-search")
    write_tiny_config(d / "tiny.yaml")
    (d / "space.yaml").write_text(yaml.safe_dump(REPORT_SPACE))
    args = [
        "tune",
        "--data",
        str(synthetic_root),
        "--category",
        *CATEGORIES,
        "--config",
        str(d / "tiny.yaml"),
        "--space",
        str(d / "space.yaml"),
        "--storage",
        str(d),
        "--name",
        "rep",
        "--samples",
        "3",
        "--epochs",
        str(EPOCHS),
        "--grace-period",
        "1",
        "--max-concurrent",
        "1",
        "--seed",
        "0",
    ]
    try:
        assert main(args) == 0
    finally:
        ray.shutdown()
    return d / "rep"


@pytest.fixture(scope="module")
def report(experiment, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert main(["report", str(experiment), "--out", str(out)]) == 0
    return out


class _Page(HTMLParser):
    """Images (attributes), and table cells keyed by (table class, row key, data-key)."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.cells: dict[tuple[str, str, str], str] = {}
        self.links: list[str] = []
        self.ids: list[str] = []
        self._table = self._row = self._key = ""
        self._text: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        a = {k: v or "" for k, v in attrs}
        if "id" in a:
            self.ids.append(a["id"])
        if tag == "img":
            self.images.append(a)
        elif tag == "table":
            self._table = f"{a.get('class')}:{a.get('data-category', '')}"
        elif tag == "tr":
            self._row = a.get("data-trial") or a.get("data-category", "")
        elif tag == "td" and "data-key" in a:
            self._key, self._text = a["data-key"], []
        elif tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])

    def handle_data(self, data):
        if self._text is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "td" and self._text is not None:
            self.cells[(self._table, self._row, self._key)] = "".join(self._text)
            self._text = None


@pytest.fixture(scope="module")
def page(report):
    parser = _Page()
    parser.feed((report / "report.html").read_text())
    return parser


def _trials(experiment: Path, category: str) -> list[Path]:
    return sorted(p for p in (experiment / category).iterdir() if p.is_dir() and p.name.startswith("trial_"))


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
        trials = _trials(experiment, category)
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
        assert [page.cells[(table, tid, "state")] for tid in normal] == ["stopped early"]  # forced by REPORT_SPACE


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


def _get_json(url: str):
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def _listen_addresses(port: int) -> set[str]:
    """Local addresses of LISTEN sockets on ``port`` (from /proc/net/tcp and tcp6, as hex)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                found.add(address)
    return found


def _children(pid: int) -> list[int]:
    return [int(c) for t in Path(f"/proc/{pid}/task").iterdir() for c in (t / "children").read_text().split()]


@pytest.mark.integration
def test_dashboard_serves_tensorboard_and_optuna_on_loopback(experiment):
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "glass_tune.cli", "dashboard", str(experiment)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    children: list[int] = []
    try:
        urls = {}
        while len(urls) < 2:
            line = proc.stdout.readline()
            assert line, f"dashboard exited early (code {proc.poll()})"
            name, _, url = line.strip().partition(": ")
            if url.startswith("http"):
                urls[name] = url
        children = _children(proc.pid)
        assert len(children) == 2
        for url in urls.values():
            parsed = urllib.parse.urlparse(url)
            assert parsed.hostname == "127.0.0.1"
            assert _listen_addresses(parsed.port) == {"0100007F"}  # 127.0.0.1 only
        tb = urls["TensorBoard"]
        trial = _trials(experiment, "weave")[0]
        run = f"weave/{trial.name}"
        deadline = time.monotonic() + 60  # TensorBoard loads event files in the background
        while run not in _get_json(tb + "data/plugin/scalars/tags") and time.monotonic() < deadline:
            time.sleep(1)
        points = _get_json(tb + "data/plugin/scalars/scalars?" + urllib.parse.urlencode({"run": run, "tag": "auroc/image"}))
        reported = [json.loads(line) for line in (trial / "result.json").read_text().splitlines()]
        assert [p[1] for p in points] == [r["epoch"] for r in reported]
        assert [p[2] for p in points] == pytest.approx([r["image_auroc"] for r in reported], abs=1e-6)
        studies = _get_json(urls["optuna-dashboard"] + "api/studies")["study_summaries"]
        assert {s["study_name"] for s in studies} == {f"rep/{c}" for c in CATEGORIES}
        study_id = next(s["study_id"] for s in studies if s["study_name"] == "rep/weave")
        detail = _get_json(urls["optuna-dashboard"] + f"api/studies/{study_id}")
        assert len(detail["trials"]) == 3
        proc.send_signal(signal.SIGINT)  # Ctrl-C
        assert proc.wait(timeout=30) == 0
        for pid in children:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    finally:
        for pid in [proc.pid, *children]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


def test_export_onnx_of_an_experiment_is_its_best_trial(experiment, tmp_path, capsys):
    import onnx
    import onnxruntime as ort

    target = tmp_path / "best.onnx"
    assert main(["export", str(experiment), "--format", "onnx", "--out", str(target)]) == 2
    assert "holds several categories" in capsys.readouterr().err
    assert main(["export", str(experiment), "--category", "weave", "--format", "onnx", "--out", str(target)]) == 0
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert [i.shape[1:] for i in session.get_inputs()] == [[3, 64, 64]]
    best = yaml.safe_load((experiment / "weave" / "best_config.yaml").read_text())["provenance"]
    props = {p.key: p.value for p in onnx.load(str(target)).metadata_props}
    assert props["category"] == "weave"
    assert f"trial_{best['trial_id']}" in props["source_checkpoint"]
    assert props["selected_epoch"] == str(best["metrics"]["epoch"])
