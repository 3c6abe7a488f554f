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
