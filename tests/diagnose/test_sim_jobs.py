"""Every simulator scenario, one small job each: culprit card and fault class from truth.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainmedic.catalog import load_catalog
from trainmedic.diagnose import diagnose
from trainmedic.localize.cardmap import normalize_bus_id

sim = pytest.importorskip("trainmedic.sim.job")
plan = pytest.importorskip("trainmedic.sim.plan")

SCENARIOS = ["line_fault", "silent_hang", "node_lost", "straggler", "nan", "user_exception", "double_fault", "crash_no_line"]


CASES = [(s, "torchrun") for s in SCENARIOS] + [(s, "slurm") for s in ("silent_hang", "crash_no_line")]


@pytest.mark.parametrize(("scenario", "layout"), CASES)
def test_names_the_culprit_card_and_fault_of_each_scenario(scenario: str, layout: str, tmp_path: Path) -> None:
    opts = plan.SimOptions(nodes=4, cards_per_node=4, fault=scenario, seed=7, rank_log_kb=1, layout=layout)
    sim.write_job(opts, tmp_path / "job", catalog=load_catalog(), workers=1)
    truth = json.loads((tmp_path / "job" / "truth.json").read_text())
    v = diagnose(tmp_path / "job", workers=1).verdict
    assert v.fault == truth["fault"]
    want = truth["culprit"]
    if want is None:
        assert v.culprit is None
        return
    assert v.culprit is not None and v.culprit.node == want["node"]
    if truth.get("culprit_scope", "card") == "card":
        assert v.culprit.card is not None
        assert normalize_bus_id(v.culprit.card.bus_id) == normalize_bus_id(want["card"]["bus_id"])
        assert v.culprit.card.serial == want["card"]["serial"]
