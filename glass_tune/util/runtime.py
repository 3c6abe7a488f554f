"""Run-environment helpers: device choice, seeding and the version record every run writes."""

from __future__ import annotations

import ctypes
import platform
import random
import sys
from importlib import metadata
from typing import Any

import numpy as np
import torch

from glass_tune.util.errors import ConfigError

_RECORDED_PACKAGES = ("glass-tune", "torch", "torchvision", "timm", "numpy", "scikit-learn", "ray", "optuna")


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA on a machine without it is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda: no CUDA device is available on this machine (use --device cpu or auto)")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices) and ask cuDNN for deterministic kernels, as the official code."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False


MAX_LOADER_WORKERS = 8


def apply_precision(precision: str) -> None:
    """Process-wide float32 matmul/convolution mode on CUDA: TF32 only for ``tf32``.

    ``bf16`` is an autocast of the model's forwards (``GlassModel.set_precision``); the float32
    work around it (GAS arithmetic, losses) stays full float32 here.  CPU runs are unaffected.
    """
    tf32 = precision == "tf32"
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def trial_cpus() -> int:
    """CPUs this process was given: Ray sets the torch thread count to a trial's CPUs."""
    return max(1, torch.get_num_threads())


def loader_workers(num_workers: int, *, cuda: bool) -> int:
    """``num_workers`` when set; on CUDA by default one worker per granted CPU but one (the main
    process feeds the GPU), since the host's data work would otherwise starve the device.  On CPU
    the default stays 0: workers would take cores from the training itself."""
    if num_workers > 0 or not cuda:
        return num_workers
    return min(MAX_LOADER_WORKERS, trial_cpus() - 1)


def peak_gpu_memory_mb(device: torch.device) -> float | None:
    """Peak memory allocated on ``device`` since the last reset, in MiB; None off CUDA."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def limit_gpu_memory(fraction: float) -> bool:
    """Cap this process at ``fraction`` of the current CUDA device (a trial granted 0.5 GPU takes at most
    half), so trials that share a GPU fail with an out-of-memory error of their own instead of
    starving each other.  Whole GPUs (>= 1) and CPU runs are left alone; returns whether a cap was set."""
    if not torch.cuda.is_available() or not 0 < fraction < 1:
        return False
    torch.cuda.set_per_process_memory_fraction(float(fraction))
    return True


_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters (glibc malloc.h)
_KEEP_FREED_BYTES = 2**31 - 1  # the largest trim threshold mallopt takes (an int)
_allocator_tuned = False


def keep_freed_cpu_memory() -> bool:
    """Let glibc's malloc serve large blocks from its heap and keep freed memory for reuse.

    By default every block over 32 MiB is a fresh ``mmap`` that is unmapped when freed, so each of
    GAS's large temporaries pays page faults again on first touch: at 288 px (10,368 patch rows) the
    kernel took 57 s of a 92 s CPU benchmark of the three GAS loops, 4 s with this setting
    (``benchmarks/README.md``).  Process-wide and irreversible (a training process keeps up to 2 GiB
    of freed memory); no effect on any number.  Linux with glibc only, elsewhere a no-op; returns
    whether the setting is in place.
    """
    global _allocator_tuned
    if _allocator_tuned:
        return True
    if sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    _allocator_tuned = bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED_BYTES))
    return _allocator_tuned


def _drop_exit_in_finalizer(hook: Any) -> Any:
    def unraisable(info: Any) -> None:
        if isinstance(info.exc_value, SystemExit | KeyboardInterrupt):
            return
        hook(info)

    unraisable.glass_tune_quiet = True  # type: ignore[attr-defined]
    return unraisable


def quiet_exit_in_finalizers() -> None:
    """Drop the "Exception ignored in ..." traceback of a SIGTERM that lands inside a finalizer.

    Ray stops a finished trial's worker with SIGTERM, and its handler raises SystemExit wherever the
    interpreter is; inside a garbage-collection callback Python can only print that exit as an
    ignored exception, a traceback on the driver console that reports no error.  Other unraisable
    exceptions still reach the previous hook.  Idempotent (a reused worker calls it per trial).
    """
    if not getattr(sys.unraisablehook, "glass_tune_quiet", False):
        sys.unraisablehook = _drop_exit_in_finalizer(sys.unraisablehook)


def versions() -> dict[str, Any]:
    """Versions of Python and the packages that shape a run's numbers."""
    out: dict[str, Any] = {"python": platform.python_version()}
    for name in _RECORDED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out["cuda"] = torch.version.cuda if torch.cuda.is_available() else None
    return out
