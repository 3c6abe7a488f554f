"""Validation sources: the seeded stratified split, the official protocol and a separate folder."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from glass_tune.config.schema import from_mapping
from glass_tune.data import Sample, scan_category
from glass_tune.data.splits import split_validation
from glass_tune.training.loop import fit
from glass_tune.training.run_inputs import RunData, prepare_data, resolve_run_config, run_samples
from glass_tune.util.errors import ConfigError, DataError
from tests.helpers.data_layouts import make_folder, make_mvtec

WHERE = Path("/data/cat")


def _samples(good: int, **defects: int) -> list[Sample]:
    out = [Sample(Path(f"/d/good/{i}.png"), 0, "good") for i in range(good)]
    for name, n in defects.items():
        out += [Sample(Path(f"/d/{name}/{i}.png"), 1, name, Path(f"/gt/{name}/{i}.png")) for i in range(n)]
    return out


def _types(samples: list[Sample]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for s in samples:
        counts[s.defect_type] = counts.get(s.defect_type, 0) + 1
    return counts


def test_split_is_stratified_disjoint_and_complete() -> None:
    test = _samples(20, crack=10, hole=6, tiny=1)
    val, held = split_validation(test, ratio=0.5, seed=0, where=WHERE)
    assert sorted(map(str, [s.path for s in val + held])) == sorted(str(s.path) for s in test)
    assert not {s.path for s in val} & {s.path for s in held}
    assert _types(val) == {"good": 10, "crack": 5, "hole": 3, "tiny": 1}  # 0.5 rounds up for a single image


def test_same_seed_same_split_other_seed_other_split() -> None:
    test = _samples(20, crack=10, hole=6)
    first = split_validation(test, ratio=0.3, seed=7, where=WHERE)
    assert split_validation(list(reversed(test)), ratio=0.3, seed=7, where=WHERE) == first  # input order irrelevant
    assert split_validation(test, ratio=0.3, seed=8, where=WHERE)[0] != first[0]


def test_a_type_split_does_not_depend_on_other_types() -> None:
    crack = lambda val: [s for s in val if s.defect_type == "crack"]  # noqa: E731
    a, _ = split_validation(_samples(10, crack=10), ratio=0.5, seed=3, where=WHERE)
    b, _ = split_validation(_samples(10, crack=10, hole=4), ratio=0.5, seed=3, where=WHERE)
    assert crack(a) == crack(b)


@pytest.mark.parametrize("ratio", [0.01, 0.2, 0.8, 0.99])
def test_both_parts_always_hold_both_classes(ratio: float) -> None:
    val, held = split_validation(_samples(3, crack=1, hole=1), ratio=ratio, seed=0, where=WHERE)
    for part in (val, held):
        assert {s.label for s in part} == {0, 1}


@pytest.mark.parametrize(("good", "bad", "what"), [(1, 5, "1 normal"), (5, 1, "1 anomalous")])
def test_too_few_images_to_split_is_an_error(good: int, bad: int, what: str) -> None:
    with pytest.raises(DataError, match=f"{WHERE}: {what} test image.*val_source=test"):
        split_validation(_samples(good, crack=bad), ratio=0.5, seed=0, where=WHERE)


# --- prepare_data per val_source ---------------------------------------------------------------


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_mvtec(tmp_path_factory.mktemp("val").resolve(), n_good=6, defects={"crack": 4, "scratch": 4})


def _data(root: Path, **changes) -> RunData:
    config = resolve_run_config(from_mapping({"data_root": str(root), "input_shape": [64, 64], **changes}))
    return prepare_data(config, feature_grid=(8, 8))


def test_split_source_holds_out_part_of_the_test_set(root: Path) -> None:
    data = _data(root)
    assert data.val_source == "split" and data.test is not None
    full = scan_category(root, "widget").test
    val, test = data.val.samples, data.test.samples
    assert len(val) + len(test) == len(full) and not {s.path for s in val} & {s.path for s in test}
    assert _types(val) == {"good": 3, "crack": 2, "scratch": 2}
    other = _data(root, val_ratio=0.25).val.samples
    assert len(other) < len(val)


def test_test_source_is_the_official_protocol(root: Path) -> None:
    data = _data(root, val_source="test")
    assert data.val_source == "test" and data.test is None
    assert data.val.samples == scan_category(root, "widget").test


def test_dir_source_reads_a_second_root_in_the_same_layout(root: Path, tmp_path: Path) -> None:
    val_root = tmp_path / "val"
    make_mvtec(val_root, n_good=2, defects={"dent": 2})
    for extra in (val_root / "widget" / "train").rglob("*"):  # a validation root needs no training images
        if extra.is_file():
            extra.unlink()
    data = _data(root, val_source="dir", val_dir=str(val_root))
    assert data.test is not None and data.test.samples == scan_category(root, "widget").test
    assert _types(data.val.samples) == {"good": 2, "dent": 2}
    assert all(str(s.path).startswith(str(val_root.resolve())) for s in data.val.samples)


def test_dir_source_in_the_folder_layout(tmp_path: Path) -> None:
    root, val_root = make_folder(tmp_path / "data"), make_folder(tmp_path / "val", n_good=2)
    data = _data(root, val_source="dir", val_dir=str(val_root))
    assert len(data.val.samples) == 6 and data.val.samples[0].path.is_relative_to(val_root.resolve())


def test_dir_source_needs_val_dir(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="val_source=dir needs val_dir"):
        _data(root, val_source="dir")
    with pytest.raises(DataError, match=f"{tmp_path / 'nope'}: validation folder"):
        run_samples(
            resolve_run_config(from_mapping({"data_root": str(root), "val_source": "dir", "val_dir": str(tmp_path / "nope")}))
        )


# --- selection never sees the held-out part ----------------------------------------------------


def _history(result) -> list[dict]:
    return [
        {k: v for k, v in row.items() if k != "seconds" and not (isinstance(v, float) and math.isnan(v))}
        for row in result.history
    ]


@pytest.mark.integration  # several complete training runs compared end to end
def test_held_out_part_never_influences_selection(tiny_config, monkeypatch: pytest.MonkeyPatch) -> None:
    """Replacing the held-out images changes the reported test figures and nothing else."""
    import glass_tune.training.loop as training

    config = tiny_config.replace(epochs=2)
    honest = fit(config)

    def swapped(cfg, **where):
        data = prepare_data(cfg, **where)
        flipped = [Sample(s.path, 1 - s.label, s.defect_type, s.mask_path) for s in data.test.samples]
        data.test = type(data.test)(flipped, input_shape=cfg.input_shape)
        return data

    monkeypatch.setattr(training, "prepare_data", swapped)
    tampered = fit(config)
    assert _history(tampered) == _history(honest) and tampered.best == honest.best
    assert tampered.test["image_auroc"] == pytest.approx(1.0 - honest.test["image_auroc"])
    assert honest.val_source == "split" and set(honest.test) >= {"image_auroc", "pixel_auroc", "aupro", "image_f1"}
