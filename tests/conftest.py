"""Shared fixtures. Tests that need ../shared (real market data, Tiingo fixtures) skip without it."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip("../shared is not present")
    return SHARED


@pytest.fixture(scope="session")
def shared_data(shared_dir: Path) -> Path:
    data = shared_dir / "data"
    if not (data / "meta.csv").is_file():
        pytest.skip("../shared/data is not present")
    return data


@pytest.fixture(scope="session")
def tiingo_fixtures(shared_dir: Path) -> Path:
    path = shared_dir / "fixtures" / "tiingo"
    if not path.is_dir():
        pytest.skip("../shared/fixtures/tiingo is not present")
    return path
