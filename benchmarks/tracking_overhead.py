"""What tracking in MLflow costs the search driver: the driver's time per reported result through its
trial event stream (``glass_tune.search.trial_events``) with the trial index alone, and with the trial
index and the MLflow sink, side by side in one run (rounds A B B A A B, medians).

No Ray and no training: synthetic trials report synthetic epochs to ``TrialEvents`` at ``--rate``
results per second (Ray's scalability page: 50-100 results per second cluster-wide with logging on),
as Ray's driver loop would call it (``on_trial_result``, then ``on_step_end``; flushes every 3 s).
Measured per mode: the seconds spent inside the callbacks on the calling (driver) thread, the
process's CPU seconds (the sink's own thread included), and the wait at the end of the search for the
tracker to catch up; then MLflow is checked to hold every result. Needs a running server:

    mlflow server --backend-store-uri sqlite:///mlflow.db --artifacts-destination ./mlartifacts --host 127.0.0.1 --port 5000
    .venv/bin/python benchmarks/tracking_overhead.py --mlflow http://127.0.0.1:5000

Writes ``benchmarks/results/tracking_overhead.json``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from glass_tune.config.schema import GlassConfig
from glass_tune.search.tracking_sink import TrackingSink
from glass_tune.search.trial_events import TrialEvents, TrialIndexSink
from glass_tune.tracking.backends import check_tracker
from glass_tune.tracking.tracker import TrackerSettings
from glass_tune.util.atomic_io import atomic_write_json
from glass_tune.util.runtime import versions


def fake_trial(index: int, *, epochs: int) -> SimpleNamespace:
    """A live trial as the callbacks see it: a full trial config, no kept checkpoint."""
    config = {**GlassConfig().to_dict(), "category": "weave", "epochs": epochs, "step": 5 + index, "searched": ["step"]}
    return SimpleNamespace(
        trial_id=f"bench{index:04d}",
        status="PENDING",
        config=config,
        last_result={},
        error_file=None,
        storage=SimpleNamespace(trial_dir_name=f"trial_bench{index:04d}"),
        run_metadata=SimpleNamespace(checkpoint_manager=SimpleNamespace(best_checkpoint_results=[])),
    )


def report(epoch: int, score: float) -> dict[str, Any]:
    """One evaluation's report, the keys a trial sends (metrics, best so far, losses) and Ray adds."""
    losses = dict.fromkeys(("loss", "true_loss", "gaus_loss", "bce_loss", "focal_loss", "r_t", "p_true", "p_fake"), 0.1)
    metrics = {"image_auroc": score, "pixel_auroc": score, "aupro": score / 2, "image_f1": score}
    best = {f"best_{k}": v for k, v in {"score": 2 * score, "epoch": epoch, **metrics}.items()}
    ray_keys = {"timestamp": int(time.time()), "training_iteration": epoch, "time_total_s": float(epoch), "pid": 1, "done": False}
    return {"epoch": epoch, **metrics, "score": 2 * score, **best, **losses, **ray_keys}


def feed(stream: TrialEvents, *, trials: int, epochs: int, rate: float) -> dict[str, float]:
    """Every trial reports every epoch at ``rate`` results per second; the driver-thread seconds spent in the callbacks."""
    live = [fake_trial(i, epochs=epochs) for i in range(trials)]
    hooks = 0.0

    def timed(call, **kwargs) -> None:
        nonlocal hooks
        began = time.perf_counter()
        call(iteration=0, trials=live, **kwargs)
        hooks += time.perf_counter() - began

    cpu, wall = time.process_time(), time.perf_counter()
    for trial in live:
        trial.status = "RUNNING"
        timed(stream.on_trial_start, trial=trial)
    due = time.perf_counter()
    for epoch in range(1, epochs + 1):
        for trial in live:
            trial.last_result = report(epoch, 0.5 + epoch / (2 * epochs))
            timed(stream.on_trial_result, trial=trial, result=trial.last_result)
            timed(stream.on_step_end)
            due += 1.0 / rate
            time.sleep(max(0.0, due - time.perf_counter()))
    for trial in live:
        trial.status = "TERMINATED"
        timed(stream.on_trial_complete, trial=trial)
    began = time.perf_counter()
    stream.on_experiment_end(trials=live)  # with the sink: waits for its thread to catch up
    end_wait = time.perf_counter() - began
    results = trials * epochs
    return {
        "results": results,
        "driver_seconds_in_callbacks": round(hooks, 4),
        "driver_us_per_result": round(1e6 * hooks / results, 1),
        "end_of_search_wait_s": round(end_wait, 3),
        "process_cpu_us_per_result": round(1e6 * (time.process_time() - cpu) / results, 1),
        "wall_seconds": round(time.perf_counter() - wall, 2),
    }


def run_mode(root: Path, *, tracked: bool, round_: int, args: argparse.Namespace) -> dict[str, float]:
    experiment = root / f"bench-{time.strftime('%Y%m%d-%H%M%S')}-{round_}-{'mlflow' if tracked else 'index'}"
    category = experiment / "weave"
    category.mkdir(parents=True)
    (experiment / "search.yaml").write_text(yaml.safe_dump({"options": {"name": experiment.name}, "categories": ["weave"]}))
    sinks: list[Any] = [TrialIndexSink(str(category))]
    if tracked:
        sinks.append(
            TrackingSink(folder_uri=str(category), settings=TrackerSettings(uri=args.mlflow, experiment=experiment.name))
        )
    stream = TrialEvents(metric="best_score", mode="max", sinks=sinks)
    out = feed(stream, trials=args.trials, epochs=args.epochs, rate=args.rate)
    if tracked:
        out["mlflow_results_logged"] = logged_results(args.mlflow, experiment.name)
    return out


def logged_results(uri: str, experiment: str) -> int:
    """How many (trial, epoch) results the MLflow experiment holds: every one, or the sink lost some."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=10_000)
    return sum(len(client.get_metric_history(r.info.run_id, "epoch")) for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mlflow", required=True, metavar="URI", help="a running MLflow tracking server")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--rate", type=float, default=100.0, help="reported results per second")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/tracking_overhead.json"))
    args = parser.parse_args()
    # What a search driver has done before its first result: checked the tracker (mlflow imported) and
    # loaded the data and model layers (the sink's svd reason reads glass_tune.data).
    check_tracker(TrackerSettings(uri=args.mlflow, experiment="glass-tune-benchmark"))
    import glass_tune.data
    import glass_tune.tracking.records  # noqa: F401

    rounds: dict[str, list[dict[str, float]]] = {"index": [], "index+mlflow": []}
    with tempfile.TemporaryDirectory(prefix="glass-tracking-") as tmp:
        for round_, tracked in enumerate((False, True, True, False, False, True)):
            rounds["index+mlflow" if tracked else "index"].append(run_mode(Path(tmp), tracked=tracked, round_=round_, args=args))
    median = {mode: {k: statistics.median(r[k] for r in runs) for k in runs[0]} for mode, runs in rounds.items()}
    base, tracked = median["index"], median["index+mlflow"]
    doc = {
        "trials": args.trials,
        "epochs": args.epochs,
        "results_per_second": args.rate,
        "rounds": rounds,
        "median": median,
        "extra_driver_us_per_result": round(tracked["driver_us_per_result"] - base["driver_us_per_result"], 1),
        "extra_process_cpu_us_per_result": round(tracked["process_cpu_us_per_result"] - base["process_cpu_us_per_result"], 1),
        "versions": versions(),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(args.out, doc)
    print(yaml.safe_dump({k: v for k, v in doc.items() if k not in ("rounds", "versions")}, sort_keys=False))


if __name__ == "__main__":
    main()
