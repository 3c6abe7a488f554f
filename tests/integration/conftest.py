"""Fixtures the integration modules share."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.searched import run_small_search


@pytest.fixture(scope="package")
def experiment(tmp_path_factory: pytest.TempPathFactory, synthetic_root: Path) -> Path:
    """One small finished search (``tests.helpers.searched``), run once for the report, dashboard and export tests."""
    return run_small_search(tmp_path_factory.mktemp("report-search"), synthetic_root)


@pytest.fixture(scope="package")
def mlflow_url(tmp_path_factory: pytest.TempPathFactory):
    """One real MLflow tracking server (SQLite store, local artifacts) for the tracking tests."""
    pytest.importorskip("mlflow")
    from tests.helpers.tracked import mlflow_server

    with mlflow_server(tmp_path_factory.mktemp("mlflow")) as url:
        yield url


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under ``pytest -n N --dist loadgroup`` a module runs on one worker, so its module fixtures (a
    search each) run once; modules that read the shared search name one group (``shared-search``)."""
    for item in items:
        if item.get_closest_marker("xdist_group") is None:
            item.add_marker(pytest.mark.xdist_group(item.module.__name__))
