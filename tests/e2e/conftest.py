"""End-to-end tests run in a temporary working directory: logs/, reports/, snapshots/ and
output/ (relative paths in the config) land there, never in the checkout."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _run_in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def dashboard_run(tmp_path_factory):
    """A real paper portfolio on the synthetic market (shared by the dashboard tests)."""
    from tests.dashboard_state import make_paper_run
    return make_paper_run(tmp_path_factory.mktemp("dashboard"))
