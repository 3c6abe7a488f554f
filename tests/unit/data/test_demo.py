"""The built-in synthetic dataset: layout, determinism, exact masks, cached generation."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from glass_tune.data import auto_svd, known_category
from glass_tune.data.demo import (
    CATEGORIES,
    MARKER,
    N_TEST_GOOD,
    N_TEST_PER_DEFECT,
    N_TRAIN,
    default_synthetic_root,
    generate_synthetic,
    synthesize_image,
)
from glass_tune.data.mvtec import list_categories, scan_category
from glass_tune.util.errors import DataError


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default dataset (all categories, size 128); its speed is benchmarks/demo_data_time.py's."""
    return generate_synthetic(tmp_path_factory.mktemp("a"))


def _digests(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*.png"))}


def test_layout_and_counts(full) -> None:
    root = full
    assert list_categories(root) == sorted(CATEGORIES)
    assert len(CATEGORIES) >= 3
    for name, spec in CATEGORIES.items():
        split = scan_category(root, name)
        assert len(split.train) == N_TRAIN
        assert sum(s.label == 0 for s in split.test) == N_TEST_GOOD
        assert sorted({s.defect_type for s in split.test if s.label}) == sorted(spec.defects)
        assert sum(s.label for s in split.test) == N_TEST_PER_DEFECT * len(spec.defects)
        with Image.open(split.train[0].path) as img:
            assert img.size == (128, 128) and img.mode == "RGB"


def test_same_seed_gives_byte_identical_files(full, tmp_path: Path) -> None:
    root = full
    again = generate_synthetic(tmp_path / "b", categories=["weave"])
    ours = {k: v for k, v in _digests(root).items() if k.startswith("weave/")}
    assert _digests(again) == ours and len(ours) > 80


def test_other_seed_gives_other_images(tmp_path: Path) -> None:
    a = synthesize_image("marble", "train", "good", 0, seed=0, size=64).image
    b = synthesize_image("marble", "train", "good", 0, seed=1, size=64).image
    assert not np.array_equal(a, b)


def test_written_masks_are_exactly_the_changed_pixels(full) -> None:
    root = full
    for name, spec in CATEGORIES.items():
        for kind in spec.defects:
            for index in range(N_TEST_PER_DEFECT):
                sample = synthesize_image(name, "test", kind, index, seed=0, size=128)
                image = np.asarray(Image.open(root / name / "test" / kind / f"{index:03d}.png"))
                mask = np.asarray(Image.open(root / name / "ground_truth" / kind / f"{index:03d}_mask.png")) > 0
                np.testing.assert_array_equal(image, sample.image)
                np.testing.assert_array_equal(mask, (image != sample.normal).any(axis=-1))
                # salient: a visible area and a strong mean change inside it
                assert mask.sum() >= 50, (name, kind, index)
                delta = np.abs(image.astype(int) - sample.normal.astype(int)).max(axis=-1)[mask]
                assert delta.mean() > 40, (name, kind, index, delta.mean())


def test_normal_images_vary(full) -> None:
    root = full
    for name in CATEGORIES:
        files = sorted((root / name / "train" / "good").iterdir())[:5]
        imgs = [np.asarray(Image.open(p), dtype=np.float64) for p in files]
        diffs = [np.abs(imgs[0] - other).mean() for other in imgs[1:]]
        assert min(diffs) > 2.0, (name, diffs)


def test_good_test_images_are_not_training_images() -> None:
    train = synthesize_image("weave", "train", "good", 0, seed=0, size=64).image
    test = synthesize_image("weave", "test", "good", 0, seed=0, size=64).image
    assert not np.array_equal(train, test)


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nut"):
        generate_synthetic(tmp_path, categories=["nut"])
    with pytest.raises(DataError, match="size"):
        generate_synthetic(tmp_path, size=8)


def test_default_root_is_generated_once_atomically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASS_TUNE_CACHE", str(tmp_path / "cache"))
    root = default_synthetic_root(size=48)
    assert root.parent == (tmp_path / "cache").resolve() and (root / MARKER).is_file()
    assert list_categories(root) == sorted(CATEGORIES)
    leftovers = [p.name for p in root.parent.iterdir() if p != root]
    assert leftovers == []  # the temporary build folder was renamed, nothing half-written remains
    stamp = (root / MARKER).stat().st_mtime_ns
    assert default_synthetic_root(size=48) == root
    assert (root / MARKER).stat().st_mtime_ns == stamp  # reused, not regenerated


def test_default_root_rebuilds_a_damaged_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GLASS_TUNE_CACHE", str(tmp_path))
    root = default_synthetic_root(size=40)
    (root / MARKER).unlink()
    (root / "weave" / "train" / "good" / "000.png").unlink()
    assert default_synthetic_root(size=40) == root
    assert (root / MARKER).is_file() and (root / "weave" / "train" / "good" / "000.png").is_file()


def test_auto_svd_tables() -> None:
    assert auto_svd("bottle") == 1 and auto_svd("carpet") == 0 and auto_svd("pcb1") == 1
    assert auto_svd("screw") == 1 and auto_svd("capsules") == 0 and auto_svd("pipe_fryum") == 1
    assert auto_svd("bracket_black") == 0 and auto_svd("tubes") == 0  # MPDD: all manifold
    assert auto_svd("my_custom_part") is None and auto_svd(None) is None  # not listed: the judge decides
    assert auto_svd("Bottle") == 1
    assert not any(known_category(name) for name in CATEGORIES)  # the synthetic set is judged too
    assert not known_category("my_custom_part")
