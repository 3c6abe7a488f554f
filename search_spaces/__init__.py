"""Bundled search-space YAML files, loaded by name through ``glass_tune.search.space.load_search_space``."""
