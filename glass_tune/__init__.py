"""glass-tune: hyperparameter search for GLASS anomaly detection (ECCV 2024) on Ray Tune + Optuna."""

from importlib import metadata

from glass_tune.config.schema import GlassConfig, load_config, save_config
from glass_tune.util import legacy_names
from glass_tune.util.errors import ConfigError, DataError, UserError

legacy_names.install()

try:
    __version__ = metadata.version("glass-tune")  # one source of truth: pyproject.toml
except metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = ["ConfigError", "DataError", "GlassConfig", "UserError", "__version__", "load_config", "save_config"]
