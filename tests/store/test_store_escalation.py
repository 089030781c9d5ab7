"""The escalation policy: the ladder, refailure after repair, lemon nodes, policy files."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.store.conftest import Clock
from tests.store.storehelpers import DAY, T0, make_incident
from trainmedic.model import Component
from trainmedic.store import RepairAction, Store, StoreError, Verification
from trainmedic.store.escalation import Fault, Repair, assess_card, assess_node, load_policy, policy_from

P = policy_from({})


def faults(*days: float, cls: str = "accelerator") -> list[Fault]:
    return [Fault(T0 + d * DAY, cls) for d in days]


def test_each_n_faults_of_one_class_in_the_window_move_the_card_one_rung_up() -> None:
    assert assess_card(P, faults(0), [], T0).action == RepairAction.RESET
    assert assess_card(P, faults(0, 1), [], T0 + DAY).action == RepairAction.RESEAT
    four = assess_card(P, faults(0, 1, 2, 3), [], T0 + 3 * DAY)
    assert four.action == RepairAction.REPLACE and four.pull


def test_faults_outside_the_window_or_of_different_classes_do_not_add_up() -> None:
    assert assess_card(P, faults(0, 40), [], T0 + 40 * DAY).rung == 0
    mixed = faults(0) + faults(1, cls="pcie")
    assert assess_card(P, mixed, [], T0 + DAY).rung == 0


def test_memory_faults_climb_one_rung_per_fault() -> None:
    assert assess_card(P, faults(0, cls="memory"), [], T0).action == RepairAction.RESEAT


def test_a_fault_soon_after_a_repair_flags_the_card_and_starts_above_the_rung_tried() -> None:
    repairs = [Repair(T0 + DAY, RepairAction.RESEAT, T0 + 2 * DAY)]
    a = assess_card(P, faults(0, 10), repairs, T0 + 10 * DAY)
    assert a.refail and a.pull and a.action == RepairAction.REPLACE
    late = assess_card(P, faults(0, 50), repairs, T0 + 50 * DAY)
    assert not late.refail and not late.pull


def test_the_lemon_score_compares_a_node_with_the_fleet_mean() -> None:
    lemon = assess_node(P, node_faults=5, fleet_faults=50, fleet_nodes=400)
    assert lemon.lemon and lemon.score == pytest.approx(40.0)
    assert not assess_node(P, node_faults=2, fleet_faults=50, fleet_nodes=400).lemon  # too few faults
    assert not assess_node(P, node_faults=5, fleet_faults=1000, fleet_nodes=400).lemon  # the fleet is nearly as bad


def test_a_policy_file_overrides_the_defaults_in_yaml_or_toml(tmp_path: Path) -> None:
    y = tmp_path / "p.yaml"
    y.write_text("faults_per_step: 3\nlemon: {min_faults: 9}\n")
    p = load_policy(y, env={})
    assert (p.faults_per_step, p.lemon_min_faults, p.lemon_min_score) == (3, 9, P.lemon_min_score)
    t = tmp_path / "p.toml"
    t.write_text('ladder = ["reset", "rma"]\npull_at = "rma"\n')
    assert load_policy(t, env={}).ladder == (RepairAction.RESET, RepairAction.RMA)
    assert load_policy(None, env={"TRAINMEDIC_POLICY": str(y)}).faults_per_step == 3


@pytest.mark.parametrize(
    ("text", "says"),
    [("faults_per_step: 0\n", "faults_per_step"), ("ladder: [reset, polish]\n", "ladder"), ("windows: 3\n", "windows"), ("- a\n", "mapping")],
)
def test_a_bad_policy_file_names_the_setting(tmp_path: Path, text: str, says: str) -> None:
    y = tmp_path / "bad.yaml"
    y.write_text(text)
    with pytest.raises(StoreError, match=says):
        load_policy(y, env={})


def test_the_store_escalates_a_repeat_offender_from_its_own_history(store: Store, clock: Clock) -> None:
    store.record_incident(make_incident("a", T0))
    clock.now = T0 + DAY
    store.add_repair("SN-3", RepairAction.RESET, verified=Verification.PASS)
    store.return_to_service("SN-3")
    store.record_incident(make_incident("b", T0 + 5 * DAY))
    clock.now = T0 + 5 * DAY
    a = store.assess("SN-3", P)
    assert a.refail and a.pull and a.action == RepairAction.RESEAT
    assert [f.card.serial for f in store.flagged(P)] == ["SN-3"]
    store.record_incident(make_incident("c", T0 + 5 * DAY, node="node-0002", serial="OTHER", component=Component.HOST))
    assert store.assess_node("node-0001", P, at=T0 + 5 * DAY).faults_in_window == 2
