"""End-to-end tests run in a temporary working directory: logs/, reports/, snapshots/ and
output/ (relative paths in the config) land there, never in the checkout."""
from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _run_in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
