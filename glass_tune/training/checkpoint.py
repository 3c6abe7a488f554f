"""Checkpoints: what a run needs to resume exactly, or to predict, in one file.

A frozen pretrained backbone is not stored (it is rebuilt from the config's weights), so a
wide_resnet50_2 checkpoint holds the adaptor and discriminator only (tens of MB, not hundreds).

A checkpoint holds data only: tensors and plain Python values (str, int, float, bool, None, and
lists, tuples and dicts of them), and every reader loads it with torch's restricted unpickler
(``weights_only=True``), so a file from someone else can hold wrong numbers but never run code.
:data:`FORMAT` names the layout of the payload, not its safety: the marker sits inside the pickle and
is read only after the unpickler has run, so it cannot vouch for anything. It stays at ``/1``: every
file glass-tune has written is data only and reads unchanged, and a bump would only make older
glass-tune versions refuse the same layout. Numpy scalars (which an older writer could have left in
the history) are read as the numbers they are, through the same restricted unpickler with numpy's
scalar and dtype reconstructors allowed: data, no code. A file that holds anything else (written by
hand or by other tools) is refused with one line naming what it holds; glass-tune never reads a
checkpoint with full pickle.
"""

from __future__ import annotations

import io
import pickle
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from glass_tune.config.schema import GlassConfig, from_mapping
from glass_tune.util.atomic_io import atomic_write_bytes
from glass_tune.util.errors import UserError

if TYPE_CHECKING:
    from glass_tune.model import GlassModel

FORMAT = "glass-tune-checkpoint/1"
# the payload's fields and their types; the last two are absent from files older than them
_LAYOUT: dict[str, tuple[type, ...]] = {
    "config": (dict,),
    "epoch": (int,),
    "model": (dict,),
    "optimizers": (dict,),
    "rng": (dict,),
    "history": (list,),
    "best": (dict, type(None)),
    "best_model": (dict, type(None)),
    "thresholds": (dict, type(None)),
}
_OPTIONAL = ("best_model", "thresholds")
# What numpy pickles a scalar as: its reconstructor, its dtype and the dtype's class. Each rebuilds a
# number from bytes; the restricted unpickler still refuses any other class or function.
# A file pickled under numpy 1 names the reconstructor by its old module path: both names are allowed.
_SCALAR = getattr(np, "_core", np).multiarray.scalar  # numpy 2 moved numpy.core to numpy._core
_NUMPY_SCALAR_GLOBALS = [
    _SCALAR,
    (_SCALAR, "numpy.core.multiarray.scalar"),
    np.dtype,
    *(type(np.dtype(code)) for code in "?bBhHiIlLqQefdgFDG"),
]
_ALLOWED_NAMES = {
    entry[1] if isinstance(entry, tuple) else f"{entry.__module__}.{entry.__qualname__}" for entry in _NUMPY_SCALAR_GLOBALS
}
_SHOWN_GLOBALS = 3  # how many of a refused file's non-data globals its error line names


@dataclass
class Checkpoint:
    """The contents of one checkpoint file."""

    config: GlassConfig
    epoch: int
    model_state: dict[str, torch.Tensor]
    optimizer_states: dict[str, Any]
    rng_state: dict[str, Any]
    history: list[dict[str, Any]]
    best: dict[str, Any] | None
    best_model_state: dict[str, torch.Tensor] | None = None
    thresholds: dict[str, Any] | None = None  # calibrated at the selected epoch (older files: none)


def model_state(model: torch.nn.Module, *, include_backbone: bool) -> dict[str, torch.Tensor]:
    """A copy of the model's state dict, without the frozen backbone unless it is trained.

    ``clone`` matters: on CPU ``.cpu()`` returns the live tensor, and a kept "best" state would
    silently follow the training.
    """
    return {
        k: v.detach().cpu().clone() for k, v in model.state_dict().items() if include_backbone or not k.startswith("backbone.")
    }


def capture_rng() -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def plain_data(value: Any, *, where: str = "checkpoint") -> Any:
    """``value`` as tensors and plain Python values only, what ``torch.load(weights_only=True)`` reads.

    Numpy scalars and subclasses of the plain types (``np.float64`` is a float) become the plain
    type: pickled as themselves they would name their class, which the restricted unpickler refuses.
    Anything else raises TypeError naming where it sits (``where``): it has no data-only form.
    """
    if isinstance(value, torch.Tensor) or value is None:
        return value
    if isinstance(value, np.generic):
        return plain_data(value.item(), where=where)  # a datetime64, say, has no plain form
    for plain in (bool, int, float, str):  # bool before int: it is one
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, dict):
        return {plain_data(k, where=where): plain_data(v, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [plain_data(v, where=f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    raise TypeError(f"{where} is a {type(value).__module__}.{type(value).__qualname__}, not plain data")


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    """Serialise atomically: an interrupted save never replaces a good checkpoint with half a file."""
    _write(
        path,
        {
            "format": FORMAT,
            "config": ckpt.config.to_dict(),
            "epoch": ckpt.epoch,
            "model": ckpt.model_state,
            "optimizers": ckpt.optimizer_states,
            "rng": ckpt.rng_state,
            "history": ckpt.history,
            "best": ckpt.best,
            "best_model": ckpt.best_model_state,
            "thresholds": ckpt.thresholds,
        },
    )


def _write(path: Path, payload: dict[str, Any]) -> None:
    buf = io.BytesIO()
    torch.save(plain_data(payload), buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path, *, source: str | None = None) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint` as data only; anything else is a one-line
    error. ``source`` names the file in that line when ``path`` is a local copy (of a download)."""
    p = Path(path)
    name = source or str(p)
    if not p.is_file():
        raise UserError(f"{name}: checkpoint file not found")
    payload = _load_data_only(p, name=name)
    _check_layout(payload, name=name)
    return Checkpoint(
        config=from_mapping(payload["config"], source=name),
        epoch=payload["epoch"],
        model_state=payload["model"],
        optimizer_states=payload["optimizers"],
        rng_state=payload["rng"],
        history=payload["history"],
        best=payload["best"],
        best_model_state=payload.get("best_model"),
        thresholds=payload.get("thresholds"),
    )


def _load_data_only(p: Path, *, name: str) -> Any:
    """The file's payload through torch's restricted unpickler: tensors and plain values, no code."""
    try:
        with warnings.catch_warnings():  # e.g. an unusual pickle protocol: the error line says enough
            warnings.simplefilter("ignore")
            with torch.serialization.safe_globals(_NUMPY_SCALAR_GLOBALS):
                return plain_data(torch.load(p, map_location="cpu", weights_only=True))
    except pickle.UnpicklingError:
        not_data = _not_data(p)
        if not not_data:
            raise UserError(f"{name}: not a readable checkpoint (UnpicklingError)") from None
        shown = ", ".join(not_data[:_SHOWN_GLOBALS]) + (", ..." if len(not_data) > _SHOWN_GLOBALS else "")
        raise UserError(
            f"{name}: holds objects that are not plain data ({shown}), so it was not loaded (checkpoints are "
            "read as data only, never with full pickle; see README, Files from others)"
        ) from None
    except Exception as exc:  # torch raises many types for a corrupt file
        raise UserError(f"{name}: not a readable checkpoint ({type(exc).__name__})") from None


def _not_data(p: Path) -> list[str]:
    """The classes and functions a refused file's pickle names, read statically (nothing runs);
    empty when there are none or the file is no torch zip archive (glass-tune never wrote another kind)."""
    try:
        return sorted(set(torch.serialization.get_unsafe_globals_in_checkpoint(p)) - _ALLOWED_NAMES)
    except Exception:  # not a zip archive, or not one torch.save wrote
        return []


def _check_layout(payload: Any, *, name: str) -> None:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{name}: not a glass-tune checkpoint (expected format {FORMAT})")
    for key, types in _LAYOUT.items():
        if key not in payload and key not in _OPTIONAL:
            raise UserError(f"{name}: not a complete glass-tune checkpoint (no '{key}')")
        if key in payload and not isinstance(payload[key], types):
            raise UserError(f"{name}: not a glass-tune checkpoint ('{key}' is a {type(payload[key]).__name__})")


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str | Path) -> None:
    """Load a checkpoint's weights into ``model``; only the frozen backbone may be absent.

    The one place that decides whether weights fit a model (resume, predict and export all use it).
    """
    own = model.state_dict()
    wrong = [k for k, v in state.items() if not isinstance(v, torch.Tensor) or k not in own or v.shape != own[k].shape]
    missing = [k for k in own if k not in state and not k.startswith("backbone.")]
    if wrong or missing:
        raise UserError(f"{source}: checkpoint does not match its model (e.g. {(wrong or missing)[0]})")
    model.load_state_dict(state, strict=False)


def selected_model(ckpt: Checkpoint, *, source: str | Path) -> GlassModel:
    """The model at the run's SELECTED epoch (``best_model_state``), in eval mode on the CPU.

    The live weights (``model_state``) are the last epoch's; they are used only when no epoch has
    been evaluated yet, so there is no selection to honour.
    """
    from glass_tune.model import GlassModel

    model = GlassModel.from_config(ckpt.config)
    state = ckpt.best_model_state if ckpt.best_model_state is not None else ckpt.model_state
    load_model_state(model, state, source=source)
    return model.eval()
