"""The search's base config reaches every trial (no Ray here): the trainable's check of a trial
config against ``search_base.json``, and the driver's choice between restoring Ray's state and
starting a category over when that state is younger than Ray's first snapshot."""

from __future__ import annotations

import pytest

import glass_tune.search.driver as driver
import glass_tune.search.tuner as tuner
from glass_tune.config.schema import FIELD_NAMES, GlassConfig
from glass_tune.experiment.protocol import TRIAL_BASE_FILE, VARIED_KEY, read_trial_base, trial_values, write_trial_base
from glass_tune.experiment.storage import resolve
from glass_tune.search.driver import trial_base
from glass_tune.search.options import TuneOptions
from glass_tune.search.space import space_from_record
from glass_tune.search.tuner import ray_state_restorable
from glass_tune.util.errors import ConfigError
from tests.helpers import STEP_SPACE

SPACE = space_from_record({"name": "step", **STEP_SPACE}, source="test")


@pytest.fixture
def base(tiny_config) -> dict:
    return trial_base(tiny_config, SPACE, TuneOptions(name="e", storage="unused", checkpoint_every=3))


def test_trial_gets_the_base_plus_its_suggestion(base):
    config, settings = trial_values({**base, "step": 2}, base)
    assert config.step == 2 and config.backbone == "resnet18" and config.input_shape == (64, 64)
    assert not config.pre_trained
    assert settings == {"checkpoint_every": 3, "searched": ["step"], "repeats": 1, "objective": "best"}


def test_only_a_varied_field_may_differ_besides_the_searched_ones(base):
    """The confirmation's runs differ in their seed: its trial base names it, a search's does not."""
    with pytest.raises(ConfigError, match="seed=7 differs from the search's base"):
        trial_values({**base, "seed": 7}, base)
    confirm = {**base, VARIED_KEY: ["seed"]}
    config, _ = trial_values({**confirm, "seed": 7, "step": 3}, confirm)
    assert (config.seed, config.step) == (7, 3)
    with pytest.raises(ConfigError, match="batch_size"):
        trial_values({**confirm, "seed": 7, "batch_size": 2}, confirm)


def test_config_without_the_base_keys_is_refused(base):
    # what Ray handed a trial after restoring a state younger than its first snapshot
    with pytest.raises(ConfigError, match=r"lacks \d+ of the search's \d+ base keys .*refused") as err:
        trial_values({"gaussian_noise_std": 0.01, "step": 5}, base)
    assert "\n" not in str(err.value)


def test_a_field_missing_at_its_default_is_accepted_one_off_its_default_is_not(base):
    # a trial Ray restores from an experiment started before a field existed lacks that field
    at_default = next(k for k in FIELD_NAMES if base[k] == getattr(GlassConfig(), k))
    config, _ = trial_values({k: v for k, v in base.items() if k != at_default}, base)
    assert getattr(config, at_default) == base[at_default]
    with pytest.raises(ConfigError, match="lacks 1 of the search's .* base keys \\(backbone\\)"):
        trial_values({k: v for k, v in base.items() if k != "backbone"}, base)


def test_config_that_contradicts_an_unsearched_base_key_is_refused(base):
    with pytest.raises(ConfigError, match="backbone='wide_resnet50_2' differs from the search's base"):
        trial_values({**base, "backbone": "wide_resnet50_2"}, base)
    with pytest.raises(ConfigError, match="checkpoint_every=5 differs"):
        trial_values({**base, "checkpoint_every": 5}, base)


def test_trial_base_round_trips_through_its_file(base, tmp_path):
    category = resolve(str(tmp_path / "exp" / "weave"))
    write_trial_base(category, base)
    assert read_trial_base(category) == base
    assert trial_values({**base, "step": 4}, read_trial_base(category))[0].step == 4


def _ray_files(folder, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).write_text("x")


SNAPSHOT = ("experiment_state-2026.json", "search_gen_state-2026.json", "searcher-state-2026.pkl")


@pytest.mark.parametrize(
    ("files", "restorable"),
    [
        ((), False),
        (("tuner.pkl",), False),  # killed between tuner.pkl and the first snapshot
        (("tuner.pkl", SNAPSHOT[0]), False),  # the first snapshot half uploaded
        (("tuner.pkl", *SNAPSHOT), True),
    ],
)
def test_ray_state_is_restorable_only_with_a_complete_snapshot(tmp_path, files, restorable):
    _ray_files(tmp_path / "weave", *files)
    assert ray_state_restorable(resolve(str(tmp_path / "weave"))) is restorable


@pytest.fixture
def started(monkeypatch):
    """Which Tuner the driver would make: ('build', param_space) or ('restore', param_space)."""
    calls = []
    monkeypatch.setattr(driver, "search_tuner", lambda *a, **k: calls.append(("build", a[-1])))
    monkeypatch.setattr(tuner, "restored_tuner", lambda options, folder, space, objective: calls.append(("restore", space)))
    return calls


def test_young_ray_state_starts_the_category_over_with_the_base(tiny_config, tmp_path, started):
    options = TuneOptions(name="e", storage=str(tmp_path))
    category = tmp_path / "e" / "weave"
    _ray_files(category, "tuner.pkl")
    _ray_files(category / "trial_abc", "params.json")
    driver.start_search(tiny_config, SPACE, options, category="weave", resume=True)
    [(kind, param_space)] = started
    assert kind == "build" and param_space["backbone"] == "resnet18" and param_space["searched"] == ["step"]
    assert sorted(p.name for p in category.iterdir()) == [TRIAL_BASE_FILE]  # Ray's young state is gone
    assert read_trial_base(resolve(str(category))) == param_space


def test_restore_passes_the_recorded_base(tiny_config, tmp_path, started):
    options = TuneOptions(name="e", storage=str(tmp_path))
    category = tmp_path / "e" / "weave"
    _ray_files(category, "tuner.pkl", *SNAPSHOT)
    recorded = {**trial_base(tiny_config, SPACE, options), "seed": 7}
    write_trial_base(resolve(str(category)), recorded)
    driver.start_search(tiny_config, SPACE, options, category="weave", resume=True)
    assert started == [("restore", recorded)]
