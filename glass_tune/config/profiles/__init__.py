"""Bundled config profiles (``--config NAME``), loaded by name through ``glass_tune.config.load_config``."""
