"""Texture sources and the official 3-of-9 texture pipeline."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from glass_tune.data.textures import (
    OFFICIAL_TRANSFORMS,
    FolderTextures,
    ProceduralTextures,
    augment_texture,
    make_texture_source,
)
from glass_tune.util.errors import DataError


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """Resolved, because errors name resolved paths (``/tmp`` may be a symlink)."""
    return tmp_path.resolve()


def _write(path: Path, size=(40, 30), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path, format="JPEG" if path.suffix.lower() in (".jpg", ".jpeg") else "PNG")
    return path


def test_folder_textures_find_dtd_layout_recursively_with_upper_case_extensions(root: Path) -> None:
    _write(root / "images" / "banded" / "banded_0001.jpg")
    _write(root / "images" / "zigzag" / "Z.JPG", seed=1)
    _write(root / "images" / "zigzag" / "deep" / "x.Png", seed=2)
    (root / "labels.txt").write_text("not an image")
    source = FolderTextures(root)
    assert sorted(p.name for p in source.files) == ["Z.JPG", "banded_0001.jpg", "x.Png"]
    assert source.files == sorted(source.files)  # a draw index means the same file everywhere


def test_missing_folder_names_the_folder(root: Path) -> None:
    with pytest.raises(DataError, match=str(root / "nope")):
        FolderTextures(root / "nope")


def test_folder_without_images_names_the_folder(root: Path) -> None:
    (root / "sub").mkdir()
    (root / "sub" / "readme.txt").write_text("x")
    with pytest.raises(DataError, match=str(root)) as err:
        FolderTextures(root)
    assert "\n" not in str(err.value)


def test_folder_of_unreadable_images_fails_on_draw_naming_the_folder(root: Path) -> None:
    (root / "broken.png").write_bytes(b"not a png at all")
    (root / "empty.jpg").write_bytes(b"")
    source = FolderTextures(root)
    with pytest.raises(DataError, match=str(root)):
        source.sample((32, 32), np.random.default_rng(0))


def test_unreadable_files_are_skipped_deterministically(root: Path) -> None:
    (root / "a_broken.png").write_bytes(b"garbage")
    _write(root / "b_good.png")
    source = FolderTextures(root)
    a = source.sample((32, 48), np.random.default_rng(4))
    b = source.sample((32, 48), np.random.default_rng(4))
    assert a.shape == (3, 32, 48) and torch.equal(a, b)


@pytest.mark.parametrize("shape", [(64, 64), (48, 80)])
def test_samples_have_input_shape_range_and_are_deterministic(root: Path, shape) -> None:
    _write(root / "t.png", size=(50, 120))
    for source in (FolderTextures(root), ProceduralTextures()):
        a = source.sample(shape, np.random.default_rng(11))
        b = source.sample(shape, np.random.default_rng(11))
        assert a.shape == (3, *shape) and a.dtype == torch.float32
        assert 0.0 <= a.min() and a.max() <= 1.0
        assert torch.equal(a, b)


def test_procedural_textures_vary() -> None:
    source = ProceduralTextures()
    samples = [source.sample((48, 48), np.random.default_rng(s)) for s in range(20)]
    assert np.median([float(s.std()) for s in samples]) > 0.1
    assert len({round(float(s.mean()), 4) for s in samples}) == len(samples)


def test_each_official_transform_keeps_the_size() -> None:
    img = Image.fromarray(np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8))
    assert len(OFFICIAL_TRANSFORMS) == 9
    for transform in OFFICIAL_TRANSFORMS:
        out = transform(img, np.random.default_rng(0))
        assert out.size == img.size and out.mode == "RGB"


def test_pipeline_draws_three_distinct_transforms(monkeypatch: pytest.MonkeyPatch) -> None:
    import glass_tune.data.textures as textures

    used: list[int] = []
    fakes = tuple((lambda k: lambda img, rng: (used.append(k), img)[1])(k) for k in range(9))  # noqa: B023 - k bound by the outer lambda
    monkeypatch.setattr(textures, "OFFICIAL_TRANSFORMS", fakes)
    img = Image.new("RGB", (20, 10))
    for seed in range(20):
        used.clear()
        augment_texture(img, (16, 16), np.random.default_rng(seed))
        assert len(used) == 3 and len(set(used)) == 3


def test_pipeline_resizes_the_shorter_side_then_crops() -> None:
    img = Image.new("RGB", (300, 100), (200, 10, 10))
    out = augment_texture(img, (32, 32), np.random.default_rng(0))
    assert out.shape == (3, 32, 32)


def test_make_texture_source(root: Path) -> None:
    assert isinstance(make_texture_source(None), ProceduralTextures)
    _write(root / "x.bmp")
    assert isinstance(make_texture_source(str(root)), FolderTextures)


def test_check_readable_passes_with_one_good_file_and_names_the_folder_without(root: Path) -> None:
    (root / "a_broken.png").write_bytes(b"garbage")
    (root / "b_empty.jpg").write_bytes(b"")
    with pytest.raises(DataError, match=f"{root}: none of the 2 image files"):
        FolderTextures(root).check_readable()
    _write(root / "c_good.png")
    FolderTextures(root).check_readable()
