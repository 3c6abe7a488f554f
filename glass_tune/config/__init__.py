"""The one typed configuration of a GLASS run (``GlassConfig``), its YAML reader and bundled profiles."""

from glass_tune.config.schema import FIELD_NAMES, GlassConfig, from_mapping, load_config, save_config

__all__ = ["FIELD_NAMES", "GlassConfig", "from_mapping", "load_config", "save_config"]
