"""``--config`` and ``--space`` name a file or a bundled one by one rule (``config/yaml_values.find_yaml``)."""

from __future__ import annotations

from importlib import resources

import pytest

from glass_tune.config.schema import BUNDLED_CONFIG_PACKAGE, read_yaml_mapping
from glass_tune.search.space import load_search_space
from glass_tune.util.errors import ConfigError


def test_config_and_space_arguments_name_a_file_or_a_bundled_one_by_one_rule(tmp_path, monkeypatch):
    """A path when it names a file or has a suffix or a separator, else a bundled name: --config and --space alike."""
    monkeypatch.chdir(tmp_path)
    assert read_yaml_mapping("tiny") == read_yaml_mapping(str(resources.files(BUNDLED_CONFIG_PACKAGE) / "tiny.yaml"))
    assert load_search_space("wide").name == "wide"
    (tmp_path / "mine").write_text("epochs: 3\n")  # a file without a suffix is read as the file
    assert read_yaml_mapping("mine") == {"epochs": 3}
    (tmp_path / "wide").write_text("params: {step: {type: int, low: 2, high: 4}}\n")
    assert list(load_search_space("wide").params) == ["step"]
    with pytest.raises(ConfigError, match=r"^tiny\.yaml: config file not found \(bundled profiles: cpu_demo, tiny\)"):
        read_yaml_mapping("tiny.yaml")  # a suffix makes it a path, here or not
    with pytest.raises(ConfigError, match=r"^wdie: neither a search space file nor a bundled space \(did you mean 'wide'\?\)"):
        load_search_space("wdie")
