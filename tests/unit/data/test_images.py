"""Robust image loading and the official resize + centre-crop preprocessing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as T
from PIL import Image

from glass_tune.data.images import (
    cover_size,
    denormalize,
    load_image_tensor,
    load_mask,
    load_rgb,
    normalize,
    preprocess_mask,
    resize_crop,
    to_float01,
    to_uint8_tensor,
)
from glass_tune.util.errors import DataError

RNG = np.random.default_rng(0)


def _gray16(path: Path) -> Path:
    Image.fromarray((np.arange(32 * 48).reshape(32, 48) * 40).astype(np.uint16)).save(path)
    return path


def _save(mode: str, path: Path) -> Path:
    base = Image.fromarray(RNG.integers(0, 256, (32, 48, 3), dtype=np.uint8))
    img = base.convert(mode) if mode != "RGBA" else base.copy()
    if mode == "RGBA":
        img.putalpha(128)
    img.save(path)
    return path


@pytest.mark.parametrize(
    ("name", "make"),
    [
        ("gray.png", lambda p: _save("L", p)),
        ("rgba.png", lambda p: _save("RGBA", p)),
        ("palette.png", lambda p: _save("P", p)),
        ("bw.png", lambda p: _save("1", p)),
        ("gray16.png", _gray16),
        ("upper.JPG", lambda p: _save("RGB", p)),
        ("photo.TIFF", lambda p: _save("RGB", p)),
    ],
)
def test_any_mode_loads_as_rgb(tmp_path: Path, name: str, make) -> None:
    img = load_rgb(make(tmp_path / name))
    assert img.mode == "RGB" and img.size == (48, 32)


def test_16_bit_is_scaled_not_clipped(tmp_path: Path) -> None:
    arr = np.asarray(load_rgb(_gray16(tmp_path / "g.png")))
    assert arr.max() > 200 and arr.min() == 0
    assert len(np.unique(arr[..., 0])) > 100  # a clip at 255 would leave a few grey levels only


@pytest.mark.parametrize("content", [b"", b"\x89PNG\r\n\x1a\n garbage bytes", b"definitely not an image"])
def test_unreadable_file_raises_data_error_naming_it(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.png"
    path.write_bytes(content)
    with pytest.raises(DataError, match="bad.png") as err:
        load_rgb(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
    if not content:
        assert "empty file" in str(err.value)


def test_truncated_png_raises_data_error(tmp_path: Path) -> None:
    path = _save("RGB", tmp_path / "t.png")
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(DataError, match=str(path)):
        load_rgb(path)


def test_missing_file_raises_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_rgb(tmp_path / "nothing.png")


def test_cover_size_matches_torchvision_resize_for_square_targets() -> None:
    for h, w in [(900, 1200), (1200, 900), (288, 288), (100, 333), (517, 49)]:
        img = Image.new("RGB", (w, h))
        ref = T.Resize(288)(img)
        assert cover_size((h, w), (288, 288)) == (ref.height, ref.width)


def test_preprocessing_matches_official_resize_and_centre_crop() -> None:
    img = Image.fromarray(RNG.integers(0, 256, (120, 90, 3), dtype=np.uint8))
    ref = T.Compose([T.Resize(64), T.CenterCrop(64), T.ToTensor()])(img)
    ours = to_float01(to_uint8_tensor(resize_crop(img, (64, 64))))
    torch.testing.assert_close(ours, ref)


@pytest.mark.parametrize("input_shape", [(64, 64), (48, 80), (80, 48)])
def test_non_square_image_gives_input_shape(tmp_path: Path, input_shape) -> None:
    path = tmp_path / "wide.png"
    Image.fromarray(RNG.integers(0, 256, (60, 200, 3), dtype=np.uint8)).save(path)
    x = load_image_tensor(path, input_shape=input_shape)
    assert x.shape == (3, *input_shape) and x.dtype == torch.float32


def test_normalize_round_trip_and_constants() -> None:
    x = torch.rand(3, 4, 5)
    torch.testing.assert_close(denormalize(normalize(x)), x)
    torch.testing.assert_close(normalize(torch.tensor([0.485, 0.456, 0.406]).view(3, 1, 1)), torch.zeros(3, 1, 1))


def test_mask_geometry_is_nearest_and_binary(tmp_path: Path) -> None:
    arr = np.zeros((100, 200), dtype=np.uint8)
    arr[40:60, 90:110] = 255
    arr[0, 0] = 7  # any non-zero value counts
    Image.fromarray(arr).save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png")
    assert mask.dtype == bool and mask.sum() == 401
    out = preprocess_mask(mask, (50, 50))
    assert out.shape == (50, 50) and set(out.unique().tolist()) == {0.0, 1.0}
    # 100x200 -> 50x100, centre crop keeps columns 25..75: the square maps to rows 20..30, cols 20..30
    assert out[20:30, 20:30].all() and out.sum() == 100


def test_rgb_mask_counts_any_channel(tmp_path: Path) -> None:
    arr = np.zeros((10, 10, 3), dtype=np.uint8)
    arr[2, 3, 1] = 1
    Image.fromarray(arr).save(tmp_path / "m.png")
    assert load_mask(tmp_path / "m.png").sum() == 1


def test_broken_symlinks_are_listed_and_named_on_read(tmp_path: Path) -> None:
    from glass_tune.data.images import is_image_file

    loop, dangling = tmp_path / "loop.png", tmp_path / "dangling.PNG"
    loop.symlink_to(loop.name)
    dangling.symlink_to(tmp_path / "missing.png")
    (tmp_path / "folder.png").mkdir()
    assert is_image_file(loop) and is_image_file(dangling) and not is_image_file(tmp_path / "folder.png")
    for path in (loop, dangling):
        with pytest.raises(DataError, match=f"{path}: cannot read image \\(broken symbolic link"):
            load_rgb(path)
