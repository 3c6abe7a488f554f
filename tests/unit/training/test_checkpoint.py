"""Checkpoints hold data only: a fresh one round-trips exactly, an older one still reads, and a file
holding anything else is refused with one line without running it."""

from __future__ import annotations

import io
import math
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch

from glass_tune.config.schema import from_mapping
from glass_tune.model import GlassModel
from glass_tune.training.checkpoint import (
    FORMAT,
    Checkpoint,
    capture_rng,
    load_checkpoint,
    load_model_state,
    model_state,
    plain_data,
    restore_rng,
    save_checkpoint,
    selected_model,
)
from glass_tune.training.loop import build_optimizers
from glass_tune.util.errors import UserError
from tests.helpers import TINY
from tests.helpers.checkpoint_files import LEGACY_CHECKPOINT, write_bomb

CONFIG = from_mapping({**TINY, "svd": 0})  # a model needs a concrete svd (a run resolves it)


def _one_line(exc: pytest.ExceptionInfo[UserError]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


def _stepped_checkpoint() -> Checkpoint:
    """A checkpoint of a tiny model after one optimiser step, with numpy scalars where a careless
    caller might leave them."""
    model = GlassModel.from_config(CONFIG)
    optimizers = build_optimizers(model, CONFIG)
    for opt in optimizers.values():
        for group in opt.param_groups:
            for p in group["params"]:
                p.grad = torch.ones_like(p)
        opt.step()
    state = model_state(model, include_backbone=False)
    return Checkpoint(
        config=CONFIG,
        epoch=2,
        model_state=state,
        optimizer_states={k: o.state_dict() for k, o in optimizers.items()},
        rng_state=capture_rng(),
        history=[{"epoch": np.int64(1), "loss": np.float64(0.25), "r_t": math.nan}],
        best={"epoch": 1, "score": np.float32(1.5)},
        best_model_state={k: v + 1 for k, v in state.items()},
        thresholds={"image_threshold": np.float64(0.125), "image_rule": "quantile"},
    )


def _legacy_payload(ckpt: Checkpoint) -> dict:
    """What an older writer without :func:`plain_data` would have stored: numpy scalars as they are."""
    return {
        "format": FORMAT,
        "config": ckpt.config.to_dict(),
        "epoch": ckpt.epoch,
        "model": ckpt.model_state,
        "optimizers": ckpt.optimizer_states,
        "rng": ckpt.rng_state,
        "history": ckpt.history,
        "best": ckpt.best,
    }


def _torch_save(path: Path, obj: object) -> Path:
    buf = io.BytesIO()
    torch.save(obj, buf)
    path.write_bytes(buf.getvalue())
    return path


def test_a_fresh_checkpoint_round_trips_exactly_as_plain_data(tmp_path):
    ckpt = _stepped_checkpoint()
    expected_draw = torch.rand(5)  # the draw after the captured RNG state
    save_checkpoint(tmp_path / "c.pt", ckpt)

    assert torch.serialization.get_unsafe_globals_in_checkpoint(tmp_path / "c.pt") == []
    loaded = load_checkpoint(tmp_path / "c.pt")
    assert loaded.config == ckpt.config and loaded.epoch == 2
    for got, want in ((loaded.model_state, ckpt.model_state), (loaded.best_model_state, ckpt.best_model_state)):
        assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    for name, state in ckpt.optimizer_states.items():
        assert loaded.optimizer_states[name]["param_groups"] == state["param_groups"]
        for i, slots in state["state"].items():
            assert all(torch.equal(loaded.optimizer_states[name]["state"][i][k], v) for k, v in slots.items())
    [row] = loaded.history
    assert (row["epoch"], row["loss"], math.isnan(row["r_t"])) == (1, 0.25, True)
    assert type(row["epoch"]) is int and type(row["loss"]) is float
    assert loaded.best == {"epoch": 1, "score": 1.5} and type(loaded.best["score"]) is float
    assert loaded.thresholds == {"image_threshold": 0.125, "image_rule": "quantile"}
    torch.manual_seed(99)
    restore_rng(loaded.rng_state)
    assert torch.equal(torch.rand(5), expected_draw)


def test_plain_data_keeps_tensors_and_containers_and_names_what_has_no_plain_form():
    t = torch.ones(2)
    out = plain_data({"a": (np.int32(3), [np.bool_(True), "x"]), np.int64(0): t, "n": None})
    assert out == {"a": (3, [True, "x"]), 0: t, "n": None}
    assert type(out["a"][0]) is int and type(out["a"][1][0]) is bool and out[0] is t
    with pytest.raises(TypeError, match=r"checkpoint\.history\[1\] is a fractions\.Fraction, not plain data"):
        plain_data({"history": [1, Fraction(1, 3)]})
    with pytest.raises(TypeError, match=r"checkpoint is a datetime\.date"):
        plain_data(np.datetime64("2026-01-01"))


def test_the_legacy_fixture_checkpoint_reads_as_data_and_builds_its_model():
    assert torch.serialization.get_unsafe_globals_in_checkpoint(LEGACY_CHECKPOINT) == []
    ckpt = load_checkpoint(LEGACY_CHECKPOINT)
    assert ckpt.epoch == 1 and ckpt.thresholds is None  # written before thresholds existed
    assert isinstance(selected_model(ckpt, source=LEGACY_CHECKPOINT), GlassModel)


@pytest.mark.parametrize("writer", ["torch", "pickle"])
def test_a_pickle_bomb_is_refused_in_one_line_and_never_runs(tmp_path, writer):
    marker = tmp_path / "marker"
    bomb = write_bomb(tmp_path / "checkpoint.pt", marker, writer=writer)
    with pytest.raises(UserError) as caught:
        load_checkpoint(bomb)
    text = _one_line(caught)
    assert text.startswith(f"{bomb}: ")
    if writer == "torch":  # a zip archive: its pickle's globals are listed without running it
        assert "(posix.system)" in text and "never with full pickle" in text
    else:  # glass-tune never wrote a bare pickle
        assert text == f"{bomb}: not a readable checkpoint (UnpicklingError)"
    assert not marker.exists()


def test_an_older_file_with_numpy_scalars_reads_as_plain_numbers(tmp_path):
    """Numpy scalars rebuild from bytes through the restricted unpickler: no code, the same values."""
    ckpt = _stepped_checkpoint()
    old = _torch_save(tmp_path / "old.pt", _legacy_payload(ckpt))
    assert any(name.startswith("numpy") for name in torch.serialization.get_unsafe_globals_in_checkpoint(old))
    loaded = load_checkpoint(old)
    assert loaded.history[0]["loss"] == 0.25 and type(loaded.history[0]["loss"]) is float
    assert loaded.best == {"epoch": 1, "score": 1.5}
    assert all(torch.equal(loaded.model_state[k], v) for k, v in ckpt.model_state.items())


def test_a_bomb_beside_numpy_scalars_is_still_refused(tmp_path):
    marker = tmp_path / "marker"
    bomb = write_bomb(tmp_path / "checkpoint.pt", marker, payload=_legacy_payload(_stepped_checkpoint()))
    with pytest.raises(UserError) as caught:
        load_checkpoint(bomb)
    assert "(posix.system)" in _one_line(caught)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00garbage", "not a readable checkpoint (UnpicklingError)"),
        ({"weights": torch.ones(1)}, f"not a glass-tune checkpoint (expected format {FORMAT})"),
        ({"format": FORMAT, "config": {}}, "not a complete glass-tune checkpoint (no 'epoch')"),
    ],
)
def test_corrupt_and_foreign_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "c.pt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        _torch_save(path, content)
    with pytest.raises(UserError) as caught:
        load_checkpoint(path)
    assert _one_line(caught) == f"{path}: {message}"


def test_half_a_file_is_a_one_line_error(tmp_path):
    whole = LEGACY_CHECKPOINT.read_bytes()
    (tmp_path / "c.pt").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(UserError) as caught:
        load_checkpoint(tmp_path / "c.pt")
    assert _one_line(caught) == f"{tmp_path / 'c.pt'}: not a readable checkpoint (RuntimeError)"


def test_a_wrongly_typed_field_is_named(tmp_path):
    payload = {**_legacy_payload(_stepped_checkpoint()), "epoch": "two", "best": None}
    path = _torch_save(tmp_path / "c.pt", plain_data(payload))
    with pytest.raises(UserError) as caught:
        load_checkpoint(path)
    assert _one_line(caught) == f"{path}: not a glass-tune checkpoint ('epoch' is a str)"


def test_weights_that_do_not_fit_the_model_are_one_line_errors():
    model = GlassModel.from_config(CONFIG)
    state = model_state(model, include_backbone=False)
    key = next(iter(state))
    for bad in ({**state, key: torch.zeros(3, 3, 3)}, {**state, key: "text"}, {**state, "extra.weight": torch.ones(1)}):
        with pytest.raises(UserError, match=r"^src: checkpoint does not match its model \(e\.g\. "):
            load_model_state(model, bad, source="src")
    with pytest.raises(UserError, match=f"e.g. {key}"):
        load_model_state(model, {k: v for k, v in state.items() if k != key}, source="src")
