"""Checkpoints: what a run needs to resume exactly, or to predict, in one file.

A frozen pretrained backbone is not stored (it is rebuilt from the config's weights), so a
wide_resnet50_2 checkpoint holds the adaptor and discriminator only (tens of MB, not hundreds).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from glass_tune.config.schema import GlassConfig, from_mapping
from glass_tune.util.atomic_io import atomic_write_bytes
from glass_tune.util.errors import UserError

if TYPE_CHECKING:
    from glass_tune.model import GlassModel

FORMAT = "glass-tune-checkpoint/1"


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


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    """Serialise atomically: an interrupted save never replaces a good checkpoint with half a file."""
    payload = {
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
    }
    buf = io.BytesIO()
    torch.save(payload, buf)
    atomic_write_bytes(path, buf.getvalue())


def load_checkpoint(path: str | Path) -> Checkpoint:
    """Read a checkpoint written by :func:`save_checkpoint`; anything else is a one-line error."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{p}: checkpoint file not found")
    try:
        payload = torch.load(p, map_location="cpu", weights_only=False)
    except Exception as exc:  # torch raises many types for a corrupt file
        raise UserError(f"{p}: not a readable checkpoint ({type(exc).__name__})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise UserError(f"{p}: not a glass-tune checkpoint (expected format {FORMAT})")
    return Checkpoint(
        config=from_mapping(payload["config"], source=str(p)),
        epoch=int(payload["epoch"]),
        model_state=payload["model"],
        optimizer_states=payload["optimizers"],
        rng_state=payload["rng"],
        history=list(payload["history"]),
        best=payload["best"],
        best_model_state=payload.get("best_model"),
        thresholds=payload.get("thresholds"),
    )


def load_model_state(model: torch.nn.Module, state: dict[str, torch.Tensor], *, source: str | Path) -> None:
    """Load a checkpoint's weights into ``model``; only the frozen backbone may be absent.

    The one place that decides whether weights fit a model (resume, predict and export all use it).
    """
    missing, unexpected = model.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("backbone.") for k in missing):
        example = (unexpected or [k for k in missing if not k.startswith("backbone.")])[0]
        raise UserError(f"{source}: checkpoint does not match its model (e.g. {example})")


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
