"""Replay of simulator output and of real kernel-log captures through the detectors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from trainmedic.agent.replay import ReplayError, replay
from trainmedic.sim.telemetry import FaultSpec, TelemetryFault, TelemetrySim
from trainmedic.sim.telemetry_io import write_telemetry
from trainmedic.sim.topology import Topology


def test_replay_names_the_culprit_card_of_a_simulated_link_fault(tmp_path: Path) -> None:
    topo = Topology.fitted(10, 4, seed=2)
    sim = TelemetrySim(topo, (FaultSpec(TelemetryFault.LINK_DEGRADED, 6, 1, 60),), seed=2)
    write_telemetry(tmp_path, topo, sim, 150, chunk_s=50)
    result = replay(tmp_path)
    assert result.nodes == 10 and result.seconds == 150 and result.truth is not None
    where = {(f.node, f.card_index) for f in result.findings}
    assert where == {("node0006", 1)}
    faults = {f.fault for f in result.findings}
    assert {"network.link_degraded", "telemetry.peer_outlier.ib_err_total"} <= faults
    peer = next(f for f in result.findings if f.source == "peer_outlier")
    assert 60 < peer.at - sim.start_epoch <= 120
    assert peer.fields["serial"] == topo.card(6, 1).serial


def test_replay_of_a_healthy_recording_finds_nothing(tmp_path: Path) -> None:
    topo = Topology.fitted(10, 4, seed=5)
    write_telemetry(tmp_path, topo, TelemetrySim(topo, (), seed=5), 120, chunk_s=60)
    assert replay(tmp_path).findings == []


def test_a_missing_chunk_file_is_counted_and_the_node_reads_as_unreadable(tmp_path: Path) -> None:
    topo = Topology.fitted(8, 2, seed=1)
    write_telemetry(tmp_path, topo, TelemetrySim(topo, (), seed=1), 20, chunk_s=10)
    (tmp_path / "telemetry" / "node0003" / "00000010.npy").unlink()
    result = replay(tmp_path, peer=False)
    assert result.missing_files == 1
    assert {(f.node, f.fault) for f in result.findings} == {("node0003", "accelerator.unreadable")}


def test_replay_of_real_kernel_logs_without_telemetry(agent_data: Path, tmp_path: Path) -> None:
    for name in ("rfe-002-xid79.dmesg", "gpud-kmsg.1.log"):
        shutil.copy(agent_data / "kmsg" / name, tmp_path / name)
    result = replay(tmp_path)
    roots = [(f.node, f.rule, f.bus_id) for f in result.findings if f.role == "root"]
    assert roots[0] == ("rfe-002-xid79", "nvidia.xid.79", "0000:09:00.0")
    # the benign gpud capture adds nothing; the Xid's own node adds only its companion lines
    assert {node for node, _, _ in roots} == {"rfe-002-xid79"}
    assert all(f.node == "rfe-002-xid79" for f in result.findings)


def test_a_directory_that_is_not_a_recording_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match=r"no manifest\.json and no kernel logs"):
        replay(tmp_path)
    (tmp_path / "manifest.json").write_text('{"format": "other"}')
    with pytest.raises(ReplayError, match="expected 'trainmedic-telemetry'"):
        replay(tmp_path)
