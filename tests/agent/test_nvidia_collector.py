"""NVIDIA collector against recorded NVML responses (real pynvml constants and error classes)."""

from __future__ import annotations

from pathlib import Path

import pynvml

from trainmedic.agent.collectors.nvidia import NvidiaCollector
from trainmedic.agent.collectors.nvml_replay import RecordedNvml
from trainmedic.agent.runner import NodeAgent


def _collector(agent_data: Path, clock: object = None) -> tuple[NvidiaCollector, RecordedNvml]:
    nvml = RecordedNvml.load(agent_data / "nvml_h100x8.json")
    return NvidiaCollector("node0001", nvml=nvml, clock=clock or (lambda: 0.0)), nvml


def test_reads_identity_and_metrics_of_every_card(agent_data: Path) -> None:
    col, nvml = _collector(agent_data)
    r = col.collect()
    assert len(r.cards) == 8 and not r.errors
    c3 = r.cards[3]
    assert c3.card.bus_id == "0000:5d:00.0"
    assert c3.card.uuid == nvml.devices[3]["uuid"] and c3.card.serial == nvml.devices[3]["serial"]
    assert c3.values["power_w"] == nvml.devices[3]["power_mw"] / 1000
    assert c3.values["pcie_width"] == 16 and c3.values["pcie_gen"] == 5
    assert c3.values["mem_used_mib"] == nvml.devices[3]["memory"]["used"] / 2**20
    assert c3.extra["nvlink_links_up"] == 18 and c3.extra["recovery_action"] == 0


def test_a_card_that_falls_off_mid_run_is_reported_and_the_others_keep_reporting(agent_data: Path, clock) -> None:
    col, nvml = _collector(agent_data, clock)
    agent = NodeAgent("node0001", [col], clock=clock)
    assert agent.tick() == []
    nvml.devices[5]["errors"] = {"*": pynvml.NVML_ERROR_GPU_IS_LOST}
    clock.advance(1)
    found = agent.tick()
    lost = [f for f in found if f.fault == "accelerator.lost"]
    assert len(lost) == 1 and lost[0].card_index == 5 and lost[0].bus_id == "0000:ab:00.0"
    assert lost[0].fields["serial"] == nvml.devices[5]["serial"]
    health = agent.health()
    assert health["status"] == "degraded" and "nvidia/card5" in health["unreadable"]
    assert "GPU is lost" in health["sources"]["nvidia"]["card_errors"]["5"]
    assert agent.sample()["cards"][4]["metrics"]["temp_c"] == nvml.devices[4]["temperature_c"]
    clock.advance(1)
    assert [f for f in agent.tick() if f.fault == "accelerator.lost"] == []  # reported once


def test_an_unsupported_call_is_skipped_silently_but_an_error_is_named(agent_data: Path) -> None:
    col, nvml = _collector(agent_data)
    del nvml.devices[0]["mem_temp_c"]
    nvml.devices[1]["errors"] = {"nvmlDeviceGetPowerUsage": pynvml.NVML_ERROR_UNKNOWN}
    r = col.collect()
    assert "mem_temp_c" not in r.cards[0].values and not r.cards[0].errors
    assert "power_w" not in r.cards[1].values and "temp_c" in r.cards[1].values
    assert any(e.startswith("power:") for e in r.cards[1].errors)


def test_nvml_that_cannot_start_is_an_error_not_a_crash(agent_data: Path) -> None:
    col, nvml = _collector(agent_data)
    nvml.init_error = pynvml.NVML_ERROR_DRIVER_NOT_LOADED
    r = col.collect()
    assert r.cards == () and "NVML could not start" in r.errors[0]


def test_xid_events_become_catalog_findings_on_the_right_card(agent_data: Path, clock) -> None:
    col, nvml = _collector(agent_data, clock)
    nvml.pending_xids = [{"device": 2, "xid": 79}]
    agent = NodeAgent("node0001", [col], clock=clock, watcher=None)
    from trainmedic.agent.kmsg import KernelWatcher

    agent.watcher = KernelWatcher("node0001", clock=clock)
    found = agent.tick()
    xid = [f for f in found if f.rule == "nvidia.xid.79"]
    assert len(xid) == 1 and xid[0].card_index == 2 and xid[0].bus_id == "0000:3a:00.0"
    assert str(xid[0].action) == "drain_node"


def test_a_recovery_action_request_is_a_finding(agent_data: Path, clock) -> None:
    col, nvml = _collector(agent_data, clock)
    agent = NodeAgent("node0001", [col], clock=clock)
    agent.tick()
    nvml.devices[6]["recovery_action"] = pynvml.NVML_GPU_RECOVERY_ACTION_NODE_REBOOT
    found = agent.tick()
    assert [(f.fault, f.card_index, str(f.action)) for f in found] == [("nvidia.recovery_action.node_reboot", 6, "reboot_node")]


def test_a_double_bit_ecc_error_and_a_pcie_downgrade_cross_their_thresholds(agent_data: Path, clock) -> None:
    col, nvml = _collector(agent_data, clock)
    agent = NodeAgent("node0001", [col], clock=clock)
    agent.tick()
    nvml.devices[1]["ecc"]["uncorrected_volatile"] = 1
    nvml.devices[7]["pcie"]["width"] = 8
    clock.advance(1)
    faults = {(f.fault, f.card_index) for f in agent.tick()}
    assert faults == {("memory.ecc_dbe", 1), ("pcie.width_downgrade", 7)}


def test_an_nvlink_that_goes_inactive_is_reported_once(agent_data: Path, clock) -> None:
    col, nvml = _collector(agent_data, clock)
    agent = NodeAgent("node0001", [col], clock=clock)
    agent.tick()
    nvml.devices[4]["nvlink"]["state"] = [1] * 16 + [0, 0]
    found = agent.tick()
    assert [(f.fault, f.card_index) for f in found] == [("interconnect.nvlink_down", 4)]
    assert "2 of 18 NVLinks" in found[0].message
    assert agent.tick() == []
