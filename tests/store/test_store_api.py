"""The store's Python API as the launcher, diagnose and the controller use it (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from tests.store.conftest import Clock
from tests.store.storehelpers import DAY, T0, finding, make_incident
from trainmedic.model import Action, Card, CardState, Component
from trainmedic.store import (
    InvalidTransition,
    RepairAction,
    Store,
    UnknownCard,
    UnknownIncident,
    Verification,
)


def test_records_an_incident_with_its_culprit_card_node_job_and_timeline(store: Store) -> None:
    assert store.record_incident(make_incident("inc-1", T0)) == "inc-1"
    inc = store.incident("inc-1")
    assert (inc.node, inc.slot, inc.card, inc.job) == ("node-0001", 3, "SN-3", "job-1")
    assert inc.timeline["detected"] - inc.timeline["fault"] == 4.0
    assert inc.evidence[0]["line"] == 42
    card = store.card("SN-3")
    assert card.bus_id == "00000000:3A:00.0" and card.model == "H100 80GB HBM3"
    assert store.count("nodes") == 1 and store.count("jobs") == 1


def test_recording_the_same_incident_twice_keeps_one_incident_and_its_findings_once(store: Store) -> None:
    inc = make_incident("inc-1", T0, findings=(finding(T0), finding(T0 + 1)))
    store.record_incident(inc)
    store.record_incident(inc)
    assert store.count("incidents") == 1
    assert len(store.incident("inc-1").findings) == 2
    assert store.count("events") == 2


def test_a_hardware_incident_makes_the_card_suspect_and_a_card_replacement_quarantines_it(store: Store) -> None:
    store.record_incident(make_incident("a", T0))
    assert store.card("SN-3").state == CardState.SUSPECT
    store.record_incident(make_incident("b", T0 + 60, action_taken=Action.REPLACE_CARD))
    assert store.card("SN-3").state == CardState.QUARANTINED


def test_a_dry_run_or_user_error_incident_leaves_the_card_in_service(store: Store) -> None:
    store.record_incident(make_incident("a", T0, dry_run=True))
    store.record_incident(make_incident("b", T0 + 1, component=Component.USER, fault="user.exception"))
    assert store.card("SN-3").state == CardState.IN_SERVICE


def test_events_are_tied_to_the_card_in_their_slot_by_bus_id_or_index(store: Store) -> None:
    store.register_card(Card("node-0001", 3, "00000000:3A:00.0", serial="SN-3"))
    store.register_card(Card("node-0001", 4, "00000000:5D:00.0", serial="SN-4"))
    n = store.record_events(
        [
            finding(T0, bus_id="0000:3a:00.0"),  # other spelling of the same bus id
            finding(T0 + 1, card_index=4),
            finding(T0 + 2, node="node-9999", card_index=0),  # unknown node: kept by name
        ]
    )
    assert n == 3
    assert store.history("SN-3").faults == 1
    assert store.history("SN-4").faults == 1
    assert store.count("events") == 3


def test_a_new_serial_in_an_occupied_slot_is_a_new_card_and_the_slot_keeps_its_history(store: Store, clock: Clock) -> None:
    store.record_incident(make_incident("a", T0, serial="OLD"))
    store.record_incident(make_incident("b", T0 + DAY, serial="NEW"))
    old, new = store.card("OLD"), store.card("NEW")
    assert old.id != new.id and old.removed_at == T0 + DAY
    assert store.card("node-0001:3").serial == "NEW"
    assert store.history("NEW").slot_cards == ("OLD",)
    assert [i.id for i in store.incidents(node="node-0001")] == ["b", "a"]


def test_card_history_lists_faults_incidents_repairs_and_state_changes_in_time_order(store: Store, clock: Clock) -> None:
    store.record_incident(make_incident("a", T0, findings=(finding(T0 - 5, card_index=3),)))
    clock.now = T0 + 3600
    store.add_repair("SN-3", RepairAction.RESEAT, parts=["riser cable"], verified=Verification.PASS, verification_test="dcgmi diag -r 3")
    clock.now = T0 + 7200
    store.return_to_service("SN-3", note="burn-in passed")
    hist = store.history("SN-3")
    kinds = [e.kind for e in hist.timeline]
    assert kinds == ["fault", "incident", "state", "state", "repair", "state", "state"]
    assert [e.at for e in hist.timeline] == sorted(e.at for e in hist.timeline)
    assert hist.card.state == CardState.IN_SERVICE
    rep = store.repairs("SN-3")[0]
    assert rep.incident_id == "a" and rep.back_in_service_at == T0 + 7200 and rep.parts == ("riser cable",)


def test_a_repair_that_failed_verification_blocks_the_return_unless_forced(store: Store) -> None:
    store.record_incident(make_incident("a", T0))
    store.add_repair("SN-3", RepairAction.RESET, verified=Verification.FAIL)
    with pytest.raises(InvalidTransition, match="failed verification"):
        store.return_to_service("SN-3")
    assert store.card("SN-3").state == CardState.IN_REPAIR
    assert store.return_to_service("SN-3", force=True).state == CardState.IN_SERVICE


def test_replace_retires_the_card_and_puts_the_new_serial_in_its_slot(store: Store) -> None:
    store.record_incident(make_incident("a", T0))
    rep = store.add_repair("SN-3", RepairAction.REPLACE, replacement=Card("", 0, serial="SN-NEW"), verified=Verification.PASS)
    assert rep.replacement == "SN-NEW"
    assert store.card("SN-3").state == CardState.RETIRED
    new = store.card("node-0001:3")
    assert new.serial == "SN-NEW" and new.state == CardState.IN_SERVICE
    with pytest.raises(InvalidTransition):
        store.return_to_service("SN-3")


def test_unknown_serials_and_incidents_raise_errors_that_say_what_to_do(store: Store) -> None:
    with pytest.raises(UnknownCard) as e:
        store.history("NO-SUCH-SERIAL")
    assert "NO-SUCH-SERIAL" in str(e.value) and "cards list" in (e.value.hint or "")
    with pytest.raises(UnknownIncident):
        store.incident("nope")
    with pytest.raises(UnknownCard):
        store.add_repair("NO-SUCH-SERIAL", RepairAction.RESET)


def test_a_write_that_fails_midway_leaves_nothing_behind(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kw: object) -> int:
        raise RuntimeError("disk gone")

    monkeypatch.setattr(store, "_insert_events", boom)
    with pytest.raises(RuntimeError):
        store.record_incident(make_incident("a", T0, findings=(finding(T0),)))
    monkeypatch.undo()
    assert (store.count("incidents"), store.count("cards"), store.count("nodes")) == (0, 0, 0)
    # The store still works afterwards (no stale cached ids).
    store.record_incident(make_incident("a", T0, findings=(finding(T0),)))
    assert store.count("events") == 1 and store.card("SN-3").node == "node-0001"


def test_incidents_list_filters_by_time_node_card_and_fault_newest_first(store: Store) -> None:
    for i in range(5):
        store.record_incident(make_incident(f"i{i}", T0 + i * DAY, node=f"node-{i % 2}", serial=f"S{i % 2}"))
    assert [r.id for r in store.incidents()] == ["i4", "i3", "i2", "i1", "i0"]
    assert [r.id for r in store.incidents(since=T0 + 2 * DAY)] == ["i4", "i3", "i2"]
    assert [r.id for r in store.incidents(node="node-1")] == ["i3", "i1"]
    assert [r.id for r in store.incidents(card="S0", limit=2)] == ["i4", "i2"]
    assert store.incidents(fault="other") == []
