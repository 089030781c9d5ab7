"""Simulated telemetry: deterministic, faults visible where they should be, truth written last."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from trainmedic.cli.sim_telemetry import telemetry
from trainmedic.detect.metrics import METRIC_INDEX as M
from trainmedic.sim.telemetry import FaultSpec, TelemetryFault, TelemetrySim
from trainmedic.sim.telemetry_io import TelemetryWriteError, write_telemetry
from trainmedic.sim.topology import Topology


def _digest(d: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(d.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(d).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_same_seed_same_bytes(tmp_path: Path) -> None:
    args = ["--nodes", "6", "--cards-per-node", "2", "--minutes", "1", "--fault", "random", "--seed", "11", "--chunk-s", "30"]
    for name in ("a", "b"):
        r = CliRunner().invoke(telemetry, [*args, "--out", str(tmp_path / name)])
        assert r.exit_code == 0, r.output
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")


def test_healthy_telemetry_looks_like_a_training_job() -> None:
    topo = Topology.fitted(8, 8)
    _, v = TelemetrySim(topo, seed=1).chunk(60)
    assert v.shape == (60, 8, 8, len(M)) and v.dtype == np.float32
    util = np.nanmean(v[..., M["gpu_util_pct"]])
    power = np.nanmean(v[..., M["power_w"]])
    assert 70 < util < 100 and 400 < power < 700
    assert np.nanmax(v[..., M["temp_c"]]) < 85
    assert set(np.unique(v[..., M["pcie_width"]][~np.isnan(v[..., M["pcie_width"]])])) == {16.0}


@pytest.mark.parametrize(
    ("kind", "metric", "check"),
    [
        (TelemetryFault.THERMAL_RUNAWAY, "temp_c", lambda before, after: after > before + 20),
        (TelemetryFault.CLOCK_THROTTLE, "sm_clock_mhz", lambda before, after: after < before - 500),
        (TelemetryFault.PCIE_DOWNGRADE, "pcie_width", lambda before, after: after == 8),
        (TelemetryFault.LINK_DEGRADED, "ib_rate_gbps", lambda before, after: after == 200),
        (TelemetryFault.SLOW_CARD, "gpu_util_pct", lambda before, after: after > 95),
    ],
)
def test_each_fault_shows_on_the_culprit_card_only(kind: TelemetryFault, metric: str, check) -> None:
    topo = Topology.fitted(6, 4)
    sim = TelemetrySim(topo, (FaultSpec(kind, 2, 3, 30),), seed=4)
    _, v = sim.chunk(120)
    col = v[..., M[metric]]
    before, after = float(np.nanmean(col[:25, 2, 3])), float(np.nanmean(col[90:, 2, 3]))
    assert check(before, after)
    others = np.delete(col[90:].reshape(30, -1), 2 * 4 + 3, axis=1)
    assert not check(before, float(np.nanmean(others)))


def test_counters_only_grow_and_a_dbe_writes_its_xid(tmp_path: Path) -> None:
    topo = Topology.fitted(4, 2)
    sim = TelemetrySim(topo, (FaultSpec(TelemetryFault.ECC_DBE, 1, 0, 10),), seed=0)
    write_telemetry(tmp_path, topo, sim, 40, chunk_s=20)
    truth = json.loads((tmp_path / "truth.json").read_text())
    assert truth["culprit"]["node"] == "node0001" and truth["culprit"]["card"]["bus_id"] == topo.card(1, 0).bus_id
    assert truth["component"] == "memory" and truth["injected_at"] == sim.start_epoch + 10
    kmsg = (tmp_path / "kmsg" / "node0001.kmsg").read_text()
    assert "NVRM: Xid (PCI:0000:18:00): 48" in kmsg
    dbe = np.load(tmp_path / "telemetry" / "node0001" / "00000000.npy")[:, 0, M["ecc_dbe_total"]]
    assert dbe[9] == 0 and dbe[10] == 1 and np.all(np.diff(dbe) >= 0)


def test_bad_input_is_a_clear_error_and_a_failed_write_leaves_no_truth(tmp_path: Path) -> None:
    r = CliRunner().invoke(telemetry, ["--nodes", "0", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "at least 1 node" in r.output
    r = CliRunner().invoke(telemetry, ["--nodes", "4", "--fault", "slow_card", "--fault-node", "9", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "outside the topology" in r.output
    r = CliRunner().invoke(telemetry, ["--nodes", "4", "--fault", "bogus", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2
    blocker = tmp_path / "file"
    blocker.write_text("")
    topo = Topology.fitted(2, 1)
    with pytest.raises(TelemetryWriteError, match="writing telemetry under"):
        write_telemetry(blocker / "out", topo, TelemetrySim(topo), 5)
    assert not (blocker / "out" / "truth.json").exists()
