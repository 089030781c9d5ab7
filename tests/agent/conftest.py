"""Agent test helpers: fixture paths and a controllable clock."""

from __future__ import annotations

from pathlib import Path

import pytest

AGENT_DATA = Path(__file__).resolve().parents[1] / "data" / "agent"


class FakeClock:
    """A clock tests move by hand (no real sleeps)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def agent_data() -> Path:
    return AGENT_DATA


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
