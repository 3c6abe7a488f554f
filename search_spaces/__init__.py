"""Bundled search-space YAML files, loaded by name through ``glass_tune.search_space.load_search_space``."""
