"""Real traces: reading InfiniteHBD and Titan, importing them, replaying the escalation policy, and the
reliability report over them."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.store.conftest import Clock
from tests.store.storehelpers import DAY, T0, make_incident
from trainmedic.model import Card, Component
from trainmedic.store import RepairAction, Store, StoreError, Verification
from trainmedic.store.charts import render_html
from trainmedic.store.escalation import policy_from
from trainmedic.store.reliability import reliability
from trainmedic.store.replay import evaluate
from trainmedic.store.traces import HBD_EPOCH, read_infinitehbd, read_titan

DATA = Path(__file__).parents[1] / "data" / "store"


def test_infinitehbd_fault_starts_pair_with_their_ends_per_node(shared_data: Path) -> None:
    trace = read_infinitehbd(shared_data / "infinitehbd-trace")
    assert len(trace.episodes) == 370 and len({e.node for e in trace.episodes}) == 181
    assert sum(e.end is None for e in trace.episodes) == 11  # still down when the published window ends
    dbe = [e for e in trace.episodes if "dbe" in e.fault]
    assert len(dbe) == 33 and {e.component for e in dbe} == {Component.MEMORY}
    first = trace.episodes[0]
    assert first.start == pytest.approx(HBD_EPOCH + 3.8955 * DAY)


def test_titan_lives_become_installs_and_dbe_or_off_the_bus_failures() -> None:
    trace = read_titan(DATA / "titan_gc_full_head300.csv")
    assert len(trace.installs) == 300
    assert {e.fault for e in trace.episodes} <= {"titan.dbe", "titan.otb"}
    with (DATA / "titan_gc_full_head300.csv").open() as fh:
        failed_lives = [r for r in csv.DictReader(fh) if r["insert"] and r["event"]]
    assert len(trace.episodes) == len(failed_lives) > 0
    assert {e.device for e in trace.episodes} == {r["SN"] for r in failed_lives}


def test_a_missing_trace_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="no fault_trace"):
        read_infinitehbd(tmp_path)


def test_importing_a_trace_twice_writes_it_once(store: Store) -> None:
    trace = read_infinitehbd(DATA / "infinitehbd_first120.json")
    first = store.import_trace(trace)
    assert first.incidents == len(trace.episodes) > 0
    assert store.import_trace(trace).incidents == 0
    assert store.count("incidents") == len(trace.episodes)
    titan = read_titan(DATA / "titan_gc_full_head300.csv")
    got = store.import_trace(titan)
    assert got.incidents == len(titan.episodes) and got.cards == len({i.serial for i in titan.installs})
    assert store.import_trace(titan).incidents == 0


def test_the_replayed_policy_pulls_fewer_healthy_nodes_than_pulling_every_faulty_one(shared_data: Path) -> None:
    result = evaluate(read_infinitehbd(shared_data / "infinitehbd-trace"), policy_from({}))
    p = result["predictors"]
    every = p["baseline: pull every faulty node"]
    lemon = p["policy: lemon score"]
    assert every["recall"] == 1.0 and every["decisions"] == lemon["decisions"] > 300
    assert lemon["precision"] > every["precision"]  # better than the base rate of refailure
    assert lemon["healthy_pulled"] < every["healthy_pulled"] / 2


def test_the_reliability_report_computes_mtbf_repeats_and_time_to_repair(store: Store, clock: Clock) -> None:
    for k in range(4):
        store.register_card(Card("node-0001", k, serial=f"SN-{k}"), at=T0)
    store.record_incident(make_incident("a", T0 + 10 * DAY, serial="SN-3"))
    clock.now = T0 + 10 * DAY + 6 * 3600
    store.add_repair("SN-3", RepairAction.RESET, verified=Verification.PASS)
    store.return_to_service("SN-3")
    store.record_incident(make_incident("b", T0 + 20 * DAY, serial="SN-3"))
    store.record_incident(make_incident("c", T0 + 40 * DAY, serial="SN-1", index=1, component=Component.MEMORY))
    rep = reliability(store, since=T0, until=T0 + 40 * DAY)
    assert rep["failures"] == 3 and rep["fleet"]["cards"] == 4
    assert rep["fleet"]["card_hours"] == pytest.approx(4 * 40 * 24)
    acc = next(c for c in rep["mtbf"]["by_component"] if c["component"] == "accelerator")
    assert acc["failures"] == 2 and acc["mtbf_hours"] == pytest.approx(4 * 40 * 24 / 2)
    assert rep["top_offenders"]["cards"][0] == {"card": "SN-3", "failures": 2}
    assert rep["repeat_faults"]["cards"] == {"failed": 2, "failed_again": 1, "rate": 0.5}
    assert rep["repeat_faults"]["repairs_that_did_not_hold"] == 1
    ttr = rep["time_to_repair_hours"]
    # a: repaired 6 h later; b and c: the incident's own resume stamp (300 s).
    assert ttr["count"] == 3 and ttr["p90"] == pytest.approx(6.0)
    page = render_html(rep)
    assert page.count("<svg") >= 4 and "MTBF per component" in page and "<script" not in page
