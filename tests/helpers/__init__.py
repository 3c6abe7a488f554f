"""Helpers shared by the test modules: import them from here or their submodule, never from a test module.

``tiny`` holds the tiny CPU profile and small spaces, ``polling`` the one wait loop, ``processes`` the
tools for tests that run glass-tune and Ray in real processes, ``study`` the experiment readers,
``data_layouts`` small datasets in every layout, ``report_page`` the report HTML parser,
``checkpoint_files`` the legacy fixture's checkpoint and hostile ones.
"""

from tests.helpers.polling import wait_until
from tests.helpers.tiny import STEP_SPACE, TINY, TWO_PARAM_SPACE, write_tiny_config

__all__ = ["STEP_SPACE", "TINY", "TWO_PARAM_SPACE", "wait_until", "write_tiny_config"]
