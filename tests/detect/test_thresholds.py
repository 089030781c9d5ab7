"""Card health thresholds over [nodes, cards, metrics] samples."""

from __future__ import annotations

import numpy as np

from trainmedic.detect.metrics import METRIC_INDEX, NUM_METRICS
from trainmedic.detect.registry import DETECTORS
from trainmedic.detect.thresholds import CardHealthDetector, ThresholdConfig
from trainmedic.model import Card, Severity

M = METRIC_INDEX


def _base(n: int = 2, k: int = 4) -> np.ndarray:
    v = np.zeros((n, k, NUM_METRICS))
    v[..., M["temp_c"]] = 60
    v[..., M["pcie_width"]] = 16
    v[..., M["pcie_gen"]] = 5
    v[..., M["ib_rate_gbps"]] = 400
    return v


def _det(n: int = 2, k: int = 4) -> CardHealthDetector:
    cards = [[Card(f"n{i}", j, bus_id=f"0000:{16 * j + 16:02x}:00.0", serial=f"S{i}{j}") for j in range(k)] for i in range(n)]
    return CardHealthDetector([f"n{i}" for i in range(n)], k, cards=cards)


def test_a_new_double_bit_error_is_critical_every_time_and_a_counter_reset_is_not() -> None:
    det, v = _det(), _base()
    assert det.update(0, v) == []
    v[1, 2, M["ecc_dbe_total"]] = 1
    (f,) = det.update(1, v)
    assert (f.node, f.card_index, f.fault, f.severity, f.bus_id, f.fields["serial"]) == (
        "n1", 2, "memory.ecc_dbe", Severity.CRITICAL, "0000:30:00.0", "S12")
    assert det.update(2, v) == []
    v[1, 2, M["ecc_dbe_total"]] = 0  # driver reload resets volatile counters
    assert det.update(3, v) == []
    v[1, 2, M["ecc_dbe_total"]] = 1
    assert [f.fault for f in det.update(4, v)] == ["memory.ecc_dbe"]


def test_row_remap_failure_asks_for_a_new_card_once() -> None:
    det, v = _det(), _base()
    v[0, 1, M["remap_failure"]] = 1
    (f,) = det.update(0, v)
    assert f.fault == "memory.row_remap_failure" and str(f.action) == "replace_card"
    assert det.update(1, v) == []


def test_thermal_limits_with_hysteresis() -> None:
    det, v = _det(), _base()
    v[0, 0, M["temp_c"]] = 88
    assert [f.fault for f in det.update(0, v)] == ["thermal.slowdown"]
    v[0, 0, M["temp_c"]] = 86  # inside the hysteresis band: no re-alert when it climbs again
    assert det.update(1, v) == []
    v[0, 0, M["temp_c"]] = 93
    assert [f.fault for f in det.update(2, v)] == ["thermal.shutdown"]
    v[0, 0, M["temp_c"]] = 80
    det.update(3, v)
    v[0, 0, M["temp_c"]] = 88
    assert [f.fault for f in det.update(4, v)] == ["thermal.slowdown"]


def test_pcie_width_and_speed_downgrades_compare_with_the_best_card_on_the_node() -> None:
    det, v = _det(), _base()
    det.update(0, v)
    v[1, 3, M["pcie_width"]] = 8
    v[0, 0, M["pcie_gen"]] = 3
    got = {(f.node, f.card_index, f.fault) for f in det.update(1, v)}
    assert got == {("n1", 3, "pcie.width_downgrade"), ("n0", 0, "pcie.speed_downgrade")}


def test_hardware_slowdown_must_persist_before_it_is_reported() -> None:
    det, v = _det(), _base()
    v[0, 2, M["throttle_reasons"]] = 0x8
    got = [f.fault for t in range(10) for f in det.update(t, v)]
    assert got == ["accelerator.hw_slowdown"]
    v[0, 2, M["throttle_reasons"]] = 0x4  # software power cap is normal under load
    assert [f for t in range(10, 20) for f in det.update(t, v)] == []


def test_link_flaps_within_the_window_and_rate_downgrade() -> None:
    det, v = _det(), _base()
    det.update(0, v)
    v[0, 1, M["ib_link_downed_total"]] = 1
    assert det.update(10, v) == []  # one link-down: not yet flapping
    v[0, 1, M["ib_link_downed_total"]] = 2
    v[1, 0, M["ib_rate_gbps"]] = 200
    got = {(f.node, f.card_index, f.fault) for f in det.update(20, v)}
    assert got == {("n0", 1, "network.link_flap"), ("n1", 0, "network.link_degraded")}
    v[0, 1, M["ib_link_downed_total"]] = 3
    assert [f.fault for f in det.update(1000, v)] == []  # old flaps aged out of the window


def test_error_streams_are_rates_per_second() -> None:
    det, v = _det(), _base()
    det.update(0, v)
    v[1, 1, M["nvlink_err_total"]] = 100
    v[1, 2, M["pcie_replay_total"]] = 5
    got = {(f.card_index, f.fault) for f in det.update(10, v)}  # 10/s and 0.5/s
    assert got == {(1, "interconnect.nvlink_errors")}


def test_a_card_that_stops_answering_is_reported_after_a_few_samples() -> None:
    det, v = _det(), _base()
    det.update(0, v)
    v[1, 3] = np.nan
    got = [f for t in range(1, 6) for f in det.update(t, v)]
    assert [(f.card_index, f.fault) for f in got] == [(3, "accelerator.unreadable")]


def test_limits_are_configurable_and_the_detector_is_registered() -> None:
    det = CardHealthDetector(["n0"], 1, ThresholdConfig(temp_slowdown_c=70))
    v = _base(1, 1)
    v[0, 0, M["temp_c"]] = 75
    assert [f.fault for f in det.update(0, v)] == ["thermal.slowdown"]
    assert DETECTORS.get("thresholds") is CardHealthDetector
