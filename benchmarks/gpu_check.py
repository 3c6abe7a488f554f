"""One prepared check of the paper setting on a bare GPU machine, in one command and a fixed budget.

``PYTHONPATH=. python3 benchmarks/gpu_check.py --out DIR`` from the repository root writes
``DIR/gpu_check.json`` (rewritten after every measurement, so a timeout still leaves what was
measured) and ``DIR/gpu_check.log`` (the same, readable).  It needs only what a lent GPU machine
has: torch, torchvision, timm, numpy, scipy, scikit-learn, scikit-image, Pillow, PyYAML and
safetensors; no Ray, Optuna, tqdm or huggingface_hub, no install step, no downloads (the synthetic
``weave`` category is generated at the profile's size and the frozen backbone loads a random-init
state dict, which does not change its speed).

The ``paper`` profile is the paper's setting: wide_resnet50_2 frozen, 288 px, embeddings 1536/1536,
discriminator hidden 1024, GAS step 20, batch 8.  Phases, in order (each with a time cap; a phase
that does not fit the budget left is recorded as skipped):

* ``timing``: ``epoch_time.measure`` for the speed defaults and the reference path
  (``gas_loop=reference, feature_cache=false``) in fp32, tf32 and bf16: seconds per epoch split
  into backbone, GAS, LAS, rest and evaluation, images per second, peak GPU memory.  LAS runs in
  the training process here (``num_workers=0``) so that it can be timed;
* ``profile``: a few default batches under ``torch.profiler``: kernels per batch, their summed
  device time against the wall time (GPU busy fraction: low means launch- or host-bound);
* ``auroc``: the same short ``fit`` (same seed) in fp32, bf16 and tf32, the AUROCs per epoch;
* ``packing``: 1, 2 and 4 training processes at once on the one device, each with the memory
  guard ``--gpus-per-trial 1/n`` sets (``limit_gpu_memory``) and ``1/n`` of the CPUs: images per
  second in all, each process's peak memory, out-of-memory errors;
* ``compile``: the defaults and the reference path with the discriminator under ``torch.compile``.

``--device cpu --profile tiny`` is the dry run the test suite runs (seconds).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from benchmarks import epoch_time
from glass_tune.config.schema import GlassConfig, from_mapping
from glass_tune.training.loop import TrainingRun, batches_per_epoch, fit, run_epoch, start_run
from glass_tune.util.atomic_io import atomic_write_json
from glass_tune.util.runtime import limit_gpu_memory, resolve_device

REPO = Path(__file__).resolve().parents[1]
PHASES = ("timing", "profile", "auroc", "packing", "compile")
PRECISIONS = ("fp32", "bf16", "tf32")  # fp32 first: the comparison base of the AUROC phase
MIN_PHASE_SECONDS = 10.0
LAUNCH_CALLS = ("cudaLaunchKernel", "cudaLaunchKernelExC", "cuLaunchKernel", "cuLaunchKernelEx")  # runtime/driver API
BARRIER_SECONDS = 120.0


@dataclass(frozen=True)
class CheckProfile:
    """A benchmarked configuration (``epoch_time.Profile``) and the check's schedule on it."""

    profile: epoch_time.Profile
    budget: float  # seconds for all phases (the default of --budget)
    caps: Mapping[str, float]  # seconds per phase
    precisions: tuple[str, ...]  # fp32 first
    timing_batches: int
    warmup: int
    profiled_batches: int
    auroc_epochs: int
    packing_epochs: int  # the first is a warm-up, not counted
    packing: tuple[int, ...]
    compile_backend: str  # torch.compile backend of the compile phase


PROFILES = {
    "paper": CheckProfile(
        epoch_time.Profile(
            "paper_288",
            None,
            epoch_train_images=400,
            frozen=True,
            note=(
                "the paper's setting: wide_resnet50_2 frozen (random-init state dict), 288 px, 1536/1536, "
                "discriminator 1024, step 20, batch 8; timing extrapolated from the timed batches to the official "
                "50 batches (an MVTec-size train set of 400 images); the synthetic weave has 60 train images"
            ),
        ),
        budget=360.0,
        caps={"timing": 120.0, "profile": 30.0, "auroc": 60.0, "packing": 110.0, "compile": 60.0},
        precisions=PRECISIONS,
        timing_batches=30,
        warmup=3,
        profiled_batches=3,
        auroc_epochs=5,
        packing_epochs=4,
        packing=(1, 2, 4),
        compile_backend="inductor",
    ),
    "tiny": CheckProfile(
        epoch_time.Profile(
            "tiny",
            epoch_time.CPU_DEMO.with_name("tiny.yaml"),  # the test suite's profile
            train_images=8,
            frozen=True,
            note="dry run: glass_tune/config/profiles/tiny.yaml (resnet18, 64 px, dims 64, step 5, batch 4) frozen, 8 train images",
        ),
        budget=600.0,  # generous caps: the dry run took about 3 min on 2 cores at load average ~12
        caps={"timing": 120.0, "profile": 60.0, "auroc": 90.0, "packing": 150.0, "compile": 90.0},
        precisions=("fp32", "bf16"),  # tf32 is fp32 off CUDA
        timing_batches=1,
        warmup=1,
        profiled_batches=1,
        auroc_epochs=2,
        packing_epochs=2,
        packing=(1, 2),
        compile_backend="aot_eager",  # inductor's C++ build takes about a minute on a CPU
    ),
}


class PhaseTimeout(Exception):
    """A phase ran past its cap (raised by SIGALRM in the main thread)."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise ``PhaseTimeout`` in this (main) thread after ``seconds``."""

    def expire(signum: int, frame: Any) -> None:
        raise PhaseTimeout(f"past its cap of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class Check:
    """One run of the check: where it writes, its budget, the prepared config and the document so far."""

    out: Path
    device: torch.device
    plan: CheckProfile
    config: GlassConfig
    work: Path
    budget: float
    started: float = field(default_factory=time.perf_counter)
    phase_deadline: float = math.inf  # perf_counter time the running phase must end by
    doc: dict[str, Any] = field(default_factory=dict)

    @property
    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def left(self) -> float:
        return self.budget - self.elapsed

    def log(self, message: str) -> None:
        line = f"[{self.elapsed:6.1f}s] {message}"
        print(line, flush=True)
        with open(self.out / "gpu_check.log", "a") as handle:
            handle.write(line + "\n")

    def save(self) -> None:
        self.doc["elapsed_seconds"] = round(self.elapsed, 1)
        atomic_write_json(self.out / "gpu_check.json", self.doc)


# --- environment ---------------------------------------------------------------------------------


def _nvidia_smi(query: str) -> str | None:
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        done = subprocess.run(
            ["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip().splitlines()[0] if done.returncode == 0 and done.stdout.strip() else None


def environment(device: torch.device) -> dict[str, Any]:
    """``epoch_time.environment`` plus what a GPU figure depends on: CUDA, cuDNN and driver versions."""
    env = epoch_time.environment(device)
    if device.type != "cuda":
        return env
    props = torch.cuda.get_device_properties(device)
    driver = _nvidia_smi("driver_version")
    if driver is None and Path("/proc/driver/nvidia/version").is_file():
        driver = Path("/proc/driver/nvidia/version").read_text().splitlines()[0]
    return {
        **env,
        "cuda_runtime": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version(),
        "driver": driver,
        "gpu_memory_mb": round(props.total_memory / 2**20),
        "compute_capability": f"{props.major}.{props.minor}",
        "gpu_count": torch.cuda.device_count(),
        "bf16_supported": torch.cuda.is_bf16_supported(),
    }


# --- timing --------------------------------------------------------------------------------------


def split(result: Mapping[str, Any]) -> dict[str, Any]:
    """An ``epoch_time.measure`` result in the check's five parts, plus images per second."""
    epoch = result["epoch"]
    s = epoch["seconds"]
    parts = {
        "backbone": s["backbone_forward"] + s["backbone_backward"],
        "gas": s["gas"],
        "las": s["las"],
        "rest": s["step_rest"],
        "evaluation": s["evaluation"] + s["metrics"],
    }
    return {
        "seconds": {k: round(v, 4) for k, v in parts.items()},
        "epoch_seconds": round(epoch["total_seconds"], 4),
        "train_images_per_second": round(epoch["train_images"] / epoch["train_seconds"], 2),
        "gpu_peak_mem_mb": result["gpu_peak_mem_mb"],
        "startup": result["startup"],
    }


def _describe(name: str, row: Mapping[str, Any]) -> str:
    parts = ", ".join(f"{k} {v:.3g}" for k, v in row["seconds"].items())
    peak = "" if row["gpu_peak_mem_mb"] is None else f", peak {row['gpu_peak_mem_mb']:.0f} MiB"
    return f"{name}: epoch {row['epoch_seconds']:.3g} s ({parts}), {row['train_images_per_second']:.1f} img/s{peak}"


def _release() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _timed_runs(
    check: Check,
    phase: dict[str, Any],
    runs: Sequence[tuple[str, str]],
    prepare: Callable[[TrainingRun], None] | None = None,
) -> None:
    """``measure`` each (variant, precision) in turn; stop early when the phase's time will not hold one more."""
    plan, results = check.plan, phase.setdefault("runs", {})
    longest = 0.0
    for variant, precision in runs:
        if longest and check.phase_deadline - time.perf_counter() < 1.2 * longest:
            phase.setdefault("not_run", []).append(f"{variant}/{precision}")
            continue
        started = time.perf_counter()
        config = check.config.replace(precision=precision, **epoch_time.VARIANTS[variant])
        result = epoch_time.measure(
            config,
            batches=plan.timing_batches,
            warmup=plan.warmup,
            epoch_train_images=plan.profile.epoch_train_images,
            prepare=prepare,
        )
        row = {**split(result), "measure": result}
        results[f"{variant}/{precision}"] = row
        longest = max(longest, time.perf_counter() - started)
        check.log(_describe(f"{variant}/{precision}", row))
        check.save()
        _release()
    ratio = _ratio(results)
    if ratio:
        phase["defaults_over_reference"] = ratio


def _ratio(results: Mapping[str, Any]) -> dict[str, float]:
    """Epoch seconds, defaults / reference, per precision measured both ways."""
    out = {}
    for precision in PRECISIONS:
        pair = [results.get(f"{v}/{precision}") for v in epoch_time.VARIANTS]
        if all(pair):
            out[precision] = round(pair[0]["epoch_seconds"] / pair[1]["epoch_seconds"], 4)
    return out


def phase_timing(check: Check, phase: dict[str, Any]) -> None:
    _timed_runs(check, phase, [(v, p) for p in check.plan.precisions for v in epoch_time.VARIANTS])


def phase_compile(check: Check, phase: dict[str, Any]) -> None:
    """The discriminator compiled in place: every pass through the module (the reference loop's 21 per
    batch, the final and LAS passes, scoring) runs the compiled graph; the hidden loop's ascent steps call
    its layers one by one and stay eager.  Compilation happens in the warm-up batches and, for
    evaluation's batch shapes, inside the evaluation figure."""
    backend = check.plan.compile_backend
    phase["backend"] = backend

    def compile_discriminator(run: TrainingRun) -> None:
        run.model.discriminator.compile(backend=backend)

    import torch._dynamo

    try:
        _timed_runs(check, phase, [(v, "fp32") for v in epoch_time.VARIANTS], prepare=compile_discriminator)
    finally:
        torch._dynamo.reset()  # later runs in this process get the eager module


# --- kernel profile ------------------------------------------------------------------------------


def phase_profile(check: Check, phase: dict[str, Any]) -> None:
    """Kernels and device time of a few default training batches: is the step launch-bound?"""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    plan = check.plan
    base = check.config.replace(num_workers=0)
    run = start_run(base, out_dir=None, resume=None)
    clock = epoch_time.Clock(run.device)
    epoch_time.train_batches(run, base, max(1, plan.warmup), clock)
    cuda = run.device.type == "cuda"
    activities = [ProfilerActivity.CPU, *([ProfilerActivity.CUDA] if cuda else [])]
    with profile(activities=activities) as prof:
        wall = epoch_time.train_batches(run, base, plan.profiled_batches, clock)
    events = prof.events()
    n = plan.profiled_batches
    kernels = [e for e in events if e.device_type == DeviceType.CUDA]
    kernel_us = sum(e.time_range.elapsed_us() for e in kernels)
    launches = sum(1 for e in events if e.name in LAUNCH_CALLS)
    aten_ops = sum(1 for e in events if e.device_type == DeviceType.CPU and e.name.startswith("aten::"))
    phase.update(
        {
            "batches": n,
            "step": base.step,
            "wall_seconds_per_batch": round(wall / n, 5),
            "aten_ops_per_batch": aten_ops // n,
            "kernels_per_batch": len(kernels) // n if cuda else None,
            "kernel_launches_per_batch": launches // n if cuda else None,
            "kernel_seconds_per_batch": round(kernel_us / 1e6 / n, 5) if cuda else None,
            "mean_kernel_us": round(kernel_us / len(kernels), 2) if kernels else None,
            "gpu_busy_fraction": round(kernel_us / 1e6 / wall, 4) if cuda and wall > 0 else None,
        }
    )
    sort_by = "self_device_time_total" if cuda else "self_cpu_time_total"
    table = prof.key_averages().table(sort_by=sort_by, row_limit=12)
    phase["top_ops"] = table.splitlines()
    check.log(
        f"profile: {phase['wall_seconds_per_batch']:.4g} s/batch, {phase['aten_ops_per_batch']} aten ops/batch, "
        f"kernels/batch {phase['kernels_per_batch']}, GPU busy {phase['gpu_busy_fraction']}"
    )
    check.log("top ops:\n" + table)


# --- AUROC by precision --------------------------------------------------------------------------


def phase_auroc(check: Check, phase: dict[str, Any]) -> None:
    """The same short ``fit`` (same seed) per precision; the differences to fp32 per epoch."""
    runs = phase.setdefault("runs", {})
    for precision in check.plan.precisions:
        started = time.perf_counter()
        result = fit(check.config.replace(precision=precision, epochs=check.plan.auroc_epochs), save_checkpoints=False)
        keys = ("epoch", "image_auroc", "pixel_auroc", "seconds", "gpu_peak_mem_mb")
        runs[precision] = {
            "history": [{k: row[k] for k in keys if k in row} for row in result.history],
            "best": result.best,
            "startup": result.startup,
            "wall_seconds": round(time.perf_counter() - started, 2),
        }
        if precision != "fp32":
            runs[precision]["max_abs_diff_to_fp32"] = _max_diffs(runs["fp32"]["history"], runs[precision]["history"])
        last = runs[precision]["history"][-1]
        check.log(
            f"auroc {precision}: last epoch image {last['image_auroc']:.4f} pixel {last['pixel_auroc']:.4f}, "
            f"best {result.best.get('score', math.nan):.4f} at epoch {result.best.get('epoch')}"
            + (f", max |diff| to fp32 {runs[precision]['max_abs_diff_to_fp32']}" if precision != "fp32" else "")
        )
        check.save()
        _release()


def _max_diffs(base: Sequence[Mapping[str, float]], other: Sequence[Mapping[str, float]]) -> dict[str, float]:
    return {k: round(max(abs(a[k] - b[k]) for a, b in zip(base, other, strict=True)), 5) for k in ("image_auroc", "pixel_auroc")}


# --- packing -------------------------------------------------------------------------------------


def phase_packing(check: Check, phase: dict[str, Any]) -> None:
    """1, 2, 4 ... training processes at once, each guarded as ``--gpus-per-trial 1/n`` would guard it."""
    counts = check.plan.packing
    for i, n in enumerate(counts):
        share = (check.phase_deadline - time.perf_counter()) / (len(counts) - i)
        phase[f"x{n}"] = row = _pack(check, n, timeout=share)
        check.log(
            f"packing x{n}: {row['images_per_second']} img/s in all, peaks "
            f"{[w.get('peak_mem_mb') for w in row['workers']]} MiB, oom {row['oom']}, failed {row['failed']}"
        )
        check.save()


def _pack(check: Check, n: int, *, timeout: float) -> dict[str, Any]:
    cpus = os.cpu_count() or 1
    barrier = Path(tempfile.mkdtemp(prefix=f"pack{n}-", dir=check.work))
    config = check.config.replace(epochs=check.plan.packing_epochs)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    procs = []
    for index in range(n):
        spec = {
            "config": config.to_dict(),
            "fraction": 1.0 / n,
            "threads": max(1, cpus // n),
            "index": index,
            "processes": n,
            "barrier": str(barrier),
            "result": str(barrier / f"result-{index}.json"),
        }
        spec_path = barrier / f"spec-{index}.json"
        spec_path.write_text(json.dumps(spec))
        log = open(barrier / f"worker-{index}.log", "w")  # noqa: SIM115 - closed after the wait below
        procs.append((subprocess.Popen([sys.executable, __file__, "--worker", str(spec_path)], stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True), log))  # fmt: skip
    deadline = time.perf_counter() + timeout
    try:
        for proc, _ in procs:
            proc.wait(timeout=max(0.1, deadline - time.perf_counter()))
    except subprocess.TimeoutExpired:
        pass
    finally:
        for proc, log in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            log.close()
    workers = []
    for index, (proc, _) in enumerate(procs):
        path = barrier / f"result-{index}.json"
        worker = json.loads(path.read_text()) if path.is_file() else {"index": index}
        worker["returncode"] = proc.returncode
        if proc.returncode != 0:
            worker["log_tail"] = (barrier / f"worker-{index}.log").read_text()[-2000:]
        workers.append(worker)
    return {"processes": n, **_aggregate(workers), "workers": workers}


def _aggregate(workers: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Images per second of all processes over the window in which their counted epochs ran."""
    done = [w for w in workers if w.get("counted_images")]
    out: dict[str, Any] = {
        "oom": any(w.get("oom") for w in workers),
        "failed": sum(1 for w in workers if w["returncode"] != 0 or not w.get("counted_images")),
        "images_per_second": None,
    }
    if done:
        window = max(w["counted_end"] for w in done) - min(w["counted_start"] for w in done)
        out["images_per_second"] = round(sum(w["counted_images"] for w in done) / window, 2)
        out["sum_of_process_rates"] = round(sum(w["images_per_second"] for w in done), 2)
    return out


def worker(spec_path: Path) -> None:
    """One packed training process: guard, start, wait for the others, train, report."""
    spec = json.loads(spec_path.read_text())
    torch.set_num_threads(spec["threads"])  # as Ray gives a trial its --cpus-per-trial
    out: dict[str, Any] = {"index": spec["index"], "fraction": spec["fraction"], "threads": spec["threads"]}
    out["memory_cap_set"] = limit_gpu_memory(spec["fraction"])  # as trainables/glass.py does
    try:
        run = start_run(from_mapping(spec["config"], source=str(spec_path)), out_dir=None, resume=None)
        run.save_checkpoints = False
        cuda = run.device.type == "cuda"
        out["startup"] = run.startup
        out["startup_peak_mem_mb"] = round(torch.cuda.max_memory_allocated() / 2**20, 1) if cuda else None
        out["barrier_waited"] = _barrier(Path(spec["barrier"]), spec["index"], spec["processes"])
        images = min(len(run.data.train), batches_per_epoch(run.config, len(run.data.train)) * run.config.batch_size)
        seconds, peaks = [], []
        while run.epoch < run.config.epochs:
            if run.epoch == 1:
                out["counted_start"] = time.time()
            record = run_epoch(run)
            seconds.append(record.seconds)
            peaks.append(record.gpu_peak_mem_mb)
        out["counted_end"] = time.time()
        counted = seconds[1:] or seconds
        out["counted_start"] = out.get("counted_start", out["counted_end"] - sum(counted))
        out.update(
            {
                "epoch_seconds": [round(s, 3) for s in seconds],
                "images_per_epoch": images,
                "counted_images": images * len(counted),
                "images_per_second": round(images * len(counted) / sum(counted), 2),
                "peak_mem_mb": max(peaks) if cuda else None,
                "reserved_mb": round(torch.cuda.memory_reserved() / 2**20, 1) if cuda else None,
                "image_auroc_last": run.history[-1].get("image_auroc"),
            }
        )
    except torch.cuda.OutOfMemoryError as exc:
        out.update({"oom": True, "error": str(exc)[:1000]})
    atomic_write_json(Path(spec["result"]), out)


def _barrier(folder: Path, index: int, count: int) -> float:
    """Wait until all ``count`` processes are ready (files), at most ``BARRIER_SECONDS``; returns seconds waited."""
    started = time.perf_counter()
    (folder / f"ready-{index}").touch()
    while len(list(folder.glob("ready-*"))) < count and time.perf_counter() - started < BARRIER_SECONDS:
        time.sleep(0.05)
    return round(time.perf_counter() - started, 2)


# --- driver --------------------------------------------------------------------------------------

PHASE_FUNCTIONS: dict[str, Callable[[Check, dict[str, Any]], None]] = {
    "timing": phase_timing,
    "profile": phase_profile,
    "auroc": phase_auroc,
    "packing": phase_packing,
    "compile": phase_compile,
}


def run_phase(check: Check, name: str) -> None:
    """One phase within ``min(cap, budget left)``; its status and partial results land in the JSON."""
    allowed = min(check.plan.caps[name], check.left())
    phase: dict[str, Any] = {"cap_seconds": check.plan.caps[name]}
    check.doc["phases"][name] = phase
    if allowed < MIN_PHASE_SECONDS:
        phase["status"] = "skipped"
        phase["reason"] = f"{check.left():.0f} s of the budget left"
        check.log(f"{name}: skipped ({phase['reason']})")
        check.save()
        return
    check.log(f"{name}: started (cap {allowed:.0f} s)")
    started = time.perf_counter()
    check.phase_deadline = started + allowed
    try:
        with time_limit(allowed):
            PHASE_FUNCTIONS[name](check, phase)
        phase["status"] = "ok"
    except PhaseTimeout as exc:
        phase["status"] = "timed_out"
        phase["reason"] = str(exc)
    except Exception as exc:  # a failing phase must not cost the others their minutes
        phase["status"] = "error"
        phase["reason"] = f"{type(exc).__name__}: {exc}"
        phase["traceback"] = traceback.format_exc()[-3000:]
    finally:
        phase["seconds"] = round(time.perf_counter() - started, 1)
        _release()
    check.log(f"{name}: {phase['status']} in {phase['seconds']} s" + (f" ({phase['reason']})" if "reason" in phase else ""))
    check.save()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, help="folder for gpu_check.json and gpu_check.log")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="paper")
    parser.add_argument("--phases", nargs="+", choices=PHASES, default=list(PHASES))
    parser.add_argument("--budget", type=float, help="seconds for all phases (default: the profile's, 360 for paper)")
    parser.add_argument(
        "--compile-backend", help="torch.compile backend of the compile phase (default: the profile's, inductor for paper)"
    )
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)  # one packed process (internal)
    args = parser.parse_args(argv)
    if args.worker is not None:
        worker(args.worker)
        return 0
    if args.out is None:
        parser.error("--out is required")

    plan = PROFILES[args.profile]
    if args.compile_backend is not None:
        plan = dataclasses.replace(plan, compile_backend=args.compile_backend)
    device = resolve_device(args.device)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.log").unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="glass-gpu-check-") as tmp:
        work = Path(tmp)
        config = epoch_time.profile_config(plan.profile, data_root=work / "data", device=device.type)
        check = Check(args.out, device, plan, config, work, args.budget or plan.budget)
        check.doc = {
            "profile": args.profile,
            "note": plan.profile.note,
            "budget_seconds": check.budget,
            "environment": environment(device),
            "phases": {},
        }
        check.log(
            f"gpu_check {args.profile} on {check.doc['environment']['device_name']} ({device.type}), budget {check.budget:.0f} s"
        )
        check.config = epoch_time.prepare_profile(plan.profile, config, work / "data")
        check.doc["config"] = {k: v for k, v in check.config.to_dict().items() if k not in ("data_root", "backbone_weights")}
        check.doc["setup_seconds"] = round(check.elapsed, 1)
        check.log(f"setup: synthetic {epoch_time.CATEGORY} at {max(config.input_shape)} px and backbone weights ready")
        check.save()
        for name in (p for p in PHASES if p in args.phases):
            run_phase(check, name)
    check.log(f"done in {check.elapsed:.0f} s: {check.out / 'gpu_check.json'}")
    failed = [n for n, p in check.doc["phases"].items() if p["status"] == "error"]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
