"""How one verdict is chosen: roots over cascades, cascades never root, multi-line forms, bus ids."""

from __future__ import annotations

from pathlib import Path

from trainmedic.catalog import ROOT_CAUSE_ELSEWHERE, Catalog
from trainmedic.catalog.busid import normalize_bus_id, same_card
from trainmedic.model import Component, Role

XID_45 = "kernel: NVRM: Xid (PCI:0000:dc:00): 45, pid=1818990, name=python3, Ch 00000001 caused by previous Xid 149"
XID_43 = "[Wed Jan 27 23:04:35 2021] NVRM: Xid (PCI:0000:3d:00): 43, pid=35521, Ch 00000008"
XID_79 = "[1084456.074562] NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus."


def test_xid_45_and_43_are_never_a_root_cause(catalog: Catalog) -> None:
    for line in (XID_45, XID_43):
        matches = catalog.match_text(line)
        assert matches and all(m.rule.role is not Role.ROOT for m in matches)
        verdict = catalog.verdict(matches)
        assert verdict is not None and verdict.fault == ROOT_CAUSE_ELSEWHERE and verdict.role is Role.CASCADE


def test_cascade_only_verdict_names_the_earlier_xid_to_look_for(catalog: Catalog, test_data: Path) -> None:
    text = (test_data / "catalog" / "rfe-022.log").read_text()
    verdict = catalog.verdict(catalog.match_text(text))
    assert verdict is not None and verdict.component is Component.UNKNOWN
    assert "root cause is" in verdict.title and "145" in verdict.explanation and "149" in verdict.explanation


def test_a_root_cause_wins_over_the_cascade_it_caused(catalog: Catalog) -> None:
    verdict = catalog.verdict(catalog.match_text(XID_45 + "\n" + XID_79))
    assert verdict is not None and verdict.fault == "nvidia.xid.79" and verdict.role is Role.ROOT
    assert [e.line for e in verdict.evidence] == [2]


def test_the_most_severe_root_is_chosen_and_agreeing_lines_raise_confidence(catalog: Catalog) -> None:
    xid13 = ("NVRM: Xid (PCI:0000:38:00): 13, pid='<unknown>', name=<unknown>, Graphics SM Warp Exception "
             "on (GPC 9, TPC 1, SM 1): Out Of Range Address")
    one = catalog.verdict(catalog.match_text(xid13 + "\n" + XID_79))
    two = catalog.verdict(catalog.match_text(XID_79 + "\n" + XID_79.replace("074562", "074563")))
    assert one is not None and one.fault == "nvidia.xid.79"
    assert two is not None and two.confidence > one.confidence


def test_info_lines_alone_give_no_verdict(catalog: Catalog) -> None:
    line = "[Sun Feb 23 16:24:18 2025] NVRM: GPU Board Serial Number: 1650124014249"
    matches = catalog.match_text(line)
    assert matches and catalog.verdict(matches) is None


def test_fallen_off_the_bus_over_three_continuation_lines_is_found(catalog: Catalog, test_data: Path) -> None:
    text = (test_data / "catalog" / "rfe-001.log").read_text()
    matches = catalog.match_text(text)
    [m] = [m for m in matches if m.rule.id == "nvidia.fallen_off_bus.multiline"]
    assert m.line == 1 and m.fields["bus_id"] == "0000:b3:00.0" and "fallen off the bus" in m.text
    verdict = catalog.verdict(matches)
    assert verdict is not None and verdict.fault == "nvidia.xid.79" and verdict.component is Component.ACCELERATOR


def test_multiline_rule_needs_its_start_on_the_first_line(catalog: Catalog) -> None:
    text = "NVRM: (PCI ID: 10de:26b5) installed in this system has\nNVRM: fallen off the bus and is not responding"
    assert not [m for m in catalog.match_text(text) if m.rule.id == "nvidia.fallen_off_bus.multiline"]


def test_pcie_fatal_error_is_a_pcie_root_cause(catalog: Catalog, test_data: Path) -> None:
    verdict = catalog.verdict(catalog.match_text((test_data / "catalog" / "rfe-029.log").read_text()))
    assert verdict is not None and verdict.component is Component.PCIE and verdict.fault == "pcie.aer.fatal"


def test_bus_ids_in_every_written_form_name_the_same_card() -> None:
    forms = ["0000:09:00", "0000:09:00.0", "00000000:09:00.0", "PCI:0000:09:00", "0000:09:00.0".upper()]
    assert {normalize_bus_id(f) for f in forms} == {"0000:09:00"}
    assert normalize_bus_id("00000000:86:00.0", keep_function=True) == "0000:86:00.0"
    assert same_card("PCI:0000:9b:00", "00000000:9B:00.0")
    assert not same_card("0000:9b:00", "0000:9c:00")
    assert normalize_bus_id("not a bus id") is None and normalize_bus_id("123456789:00:00") is None


def test_catalog_survives_pickling_for_worker_processes(catalog: Catalog) -> None:
    import pickle

    copy = pickle.loads(pickle.dumps(catalog))
    assert [m.rule.id for m in copy.match_text(XID_79)] == ["nvidia.xid.79"]
