"""`trainmedic sim suite`: every scenario, mixed sizes, index.json last, same seed same bytes."""

from __future__ import annotations

import json
from pathlib import Path

from tests.sim.jobfiles import tree_digest
from trainmedic.catalog import Catalog
from trainmedic.sim.faults import LLAMA3_MIX, Scenario
from trainmedic.sim.suite import plan_suite, write_suite


def test_suite_plan_covers_every_scenario_and_cycles_sizes() -> None:
    items = plan_suite(200, [64, 18432], seed=1)
    scenarios = {i.scenario for i in items}
    assert scenarios == set(Scenario)
    assert min(sum(1 for i in items if i.scenario is s) for s in Scenario) >= 10
    assert {i.cards for i in items} == {64, 18432}
    line = sum(1 for i in items if i.scenario is Scenario.LINE_FAULT)
    assert line > 200 * 0.4  # the Llama 3 mix is mostly hardware faults with a line


def test_llama3_mix_keeps_the_published_counts() -> None:
    assert sum(e.count for e in LLAMA3_MIX) == 419
    faulty_gpu = sum(e.count for e in LLAMA3_MIX if e.category.startswith("Faulty GPU"))
    assert faulty_gpu == 148


def test_suite_writes_labelled_jobs_and_the_index_last(tmp_path: Path, shapes: Catalog) -> None:
    index = write_suite(tmp_path / "a", 9, cards=[16, 32], seed=4, catalog=shapes, workers=1)
    write_suite(tmp_path / "b", 9, cards=[16, 32], seed=4, catalog=shapes, workers=1)
    assert tree_digest(tmp_path / "a") == tree_digest(tmp_path / "b")
    on_disk = json.loads((tmp_path / "a" / "index.json").read_text())
    assert on_disk == index and index["count"] == 9
    for entry in index["incidents"]:
        truth = json.loads((tmp_path / "a" / entry["path"] / "truth.json").read_text())
        assert truth["scenario"] == entry["truth"]["scenario"]
        assert truth["nodes"] * truth["cards_per_node"] == entry["cards"]
