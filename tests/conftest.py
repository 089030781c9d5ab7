"""Shared test fixtures: paths to the real-world data sets and the test database URLs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TEST_DATA = ROOT / "tests" / "data"
SHARED = Path(os.environ.get("TRAINMEDIC_SHARED_DIR", ROOT.parent / "shared"))
SHARED_DATA = SHARED / "data"


@pytest.fixture(autouse=True, scope="session")
def _private_data_home(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep the tests off the user's fleet store: a private XDG_DATA_HOME and no TRAINMEDIC_DB_URL."""
    os.environ["XDG_DATA_HOME"] = str(tmp_path_factory.mktemp("xdg-data"))
    os.environ.pop("TRAINMEDIC_DB_URL", None)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`: third-party real logs and traces (read-only)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set TRAINMEDIC_SHARED_DIR)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def test_data() -> Path:
    """`tests/data`: real captured lines and logs kept with the project."""
    return TEST_DATA
