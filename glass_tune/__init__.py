"""glass-tune: hyperparameter search for GLASS anomaly detection (ECCV 2024) on Ray Tune + Optuna."""

from glass_tune.config import GlassConfig, load_config, save_config
from glass_tune.errors import ConfigError, DataError, UserError

__version__ = "0.1.0"

__all__ = ["ConfigError", "DataError", "GlassConfig", "UserError", "__version__", "load_config", "save_config"]
