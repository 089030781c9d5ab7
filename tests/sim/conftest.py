"""Fixtures for the simulator tests: a small catalog with every rule shape, and a job writer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from trainmedic.catalog import Catalog, load_catalog
from trainmedic.sim.job import write_job
from trainmedic.sim.plan import SimOptions

RULES = Path(__file__).resolve().parents[1] / "data" / "sim" / "rules" / "sim_test_rules.yaml"


@pytest.fixture(scope="session")
def shapes() -> Catalog:
    """Test catalog: kernel/job rules, bus id forms, no bus id, tool-only, foreign vendor, over-broad."""
    return load_catalog([RULES])


Gen = Callable[..., tuple[Path, dict[str, Any]]]


@pytest.fixture
def gen(tmp_path: Path, shapes: Catalog) -> Gen:
    """Write a small job; returns (dir, truth)."""
    counter = iter(range(1000))

    def make(catalog: Catalog | None = None, workers: int = 1, **kw: Any) -> tuple[Path, dict[str, Any]]:
        kw.setdefault("nodes", 4)
        kw.setdefault("cards_per_node", 8)
        kw.setdefault("rank_log_kb", 4)
        out = tmp_path / f"job{next(counter)}"
        write_job(SimOptions(**kw), out, catalog=catalog or shapes, workers=workers)
        return out, json.loads((out / "truth.json").read_text())

    return make
