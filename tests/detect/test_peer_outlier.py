"""Peer-outlier detection: the farthest machine, the continuity gate, counters, gaps."""

from __future__ import annotations

import numpy as np
import pytest

from trainmedic.detect.metrics import METRIC_INDEX, NUM_METRICS
from trainmedic.detect.peer_outlier import PeerOutlierConfig, PeerOutlierDetector
from trainmedic.detect.registry import DETECTORS
from trainmedic.model import Card, Symptom

N, K = 20, 4
T = METRIC_INDEX["temp_c"]


def _healthy(rng: np.random.Generator) -> np.ndarray:
    v = np.zeros((N, K, NUM_METRICS), dtype=np.float32)
    v[:, :, T] = 60 + rng.normal(0, 1.5, (N, K))
    v[:, :, METRIC_INDEX["pcie_width"]] = 16
    v[:, :, METRIC_INDEX["gpu_util_pct"]] = 90 + rng.normal(0, 2, (N, K))
    return v


def _run(det: PeerOutlierDetector, seconds: int, hot_from: int | None, hot_until: int = 10**9, seed: int = 0) -> list:
    rng = np.random.default_rng(seed)
    out = []
    for t in range(seconds):
        v = _healthy(rng)
        if hot_from is not None and hot_from <= t < hot_until:
            v[13, 2, T] += 25
        out += det.update(float(t), v)
    return out


def test_flags_the_machine_farthest_from_its_peers_with_the_card() -> None:
    cards = [[Card(f"n{i}", j, bus_id=f"0000:{j:02x}:00.0", serial=f"S{i}{j}") for j in range(K)] for i in range(N)]
    det = PeerOutlierDetector([f"n{i}" for i in range(N)], K, cards=cards)
    found = _run(det, 120, hot_from=30)
    assert len(found) == 1
    f = found[0]
    assert (f.node, f.card_index, f.bus_id, f.symptom) == ("n13", 2, "0000:02:00.0", Symptom.OUTLIER)
    assert f.fields["metric"] == "temp_c" and float(f.fields["value"]) > 80 and f.fields["serial"] == "S132"
    assert 30 + det.config.continuity_s <= f.at <= 30 + det.config.continuity_s + det.config.window_s


def test_a_deviation_shorter_than_the_continuity_gate_is_not_flagged() -> None:
    det = PeerOutlierDetector([f"n{i}" for i in range(N)], K, PeerOutlierConfig(window_s=5, continuity_s=30))
    assert _run(det, 120, hot_from=30, hot_until=50) == []


def test_a_healthy_cluster_raises_nothing() -> None:
    det = PeerOutlierDetector([f"n{i}" for i in range(N)], K)
    assert _run(det, 300, hot_from=None, seed=3) == []


def test_counters_compare_as_rates_and_a_reset_is_not_an_outlier() -> None:
    det = PeerOutlierDetector([f"n{i}" for i in range(N)], K)
    c = METRIC_INDEX["pcie_replay_total"]
    rng = np.random.default_rng(0)
    found = []
    for t in range(200):
        v = _healthy(rng)
        v[:, :, c] = 1e6  # big but flat counters: rate 0 everywhere
        if t >= 100:
            v[4, 0, c] = 5  # node 4's counter was reset (driver reload): must not look like anything
        if t >= 20:
            v[7, 3, c] = 1e6 + 30 * (t - 20)  # node 7 card 3 replays 30/s
        found += det.update(float(t), v)
    assert [(f.node, f.card_index, f.fields["metric"]) for f in found] == [("n7", 3, "pcie_replay_total")]


def test_gaps_are_filled_from_the_last_sample_and_counted() -> None:
    det = PeerOutlierDetector([f"n{i}" for i in range(N)], K)
    rng = np.random.default_rng(1)
    found = []
    for t in range(100):
        v = _healthy(rng)
        if t % 3 == 0:
            v[5] = np.nan  # node 5 unreadable every third second
        found += det.update(float(t), v)
    assert found == [] and det.missing_values > 0


def test_too_few_machines_to_compare_raise_nothing_and_a_wrong_shape_is_refused() -> None:
    det = PeerOutlierDetector(["a", "b", "c"], 2)
    v = np.zeros((3, 2, NUM_METRICS), dtype=np.float32)
    v[0, 0, T] = 500
    assert all(det.update(float(t), v) == [] for t in range(100))
    with pytest.raises(ValueError, match="expected values of shape"):
        det.update(0.0, np.zeros((2, 2, NUM_METRICS)))


def test_is_registered_as_a_detector() -> None:
    assert DETECTORS.get("peer_outlier") is PeerOutlierDetector


def test_only_the_faulty_side_counts_a_cool_card_is_not_flagged() -> None:
    det = PeerOutlierDetector([f"n{i}" for i in range(N)], K)
    rng = np.random.default_rng(2)
    found = []
    for t in range(120):
        v = _healthy(rng)
        v[3, 1, T] -= 25  # idle and cool: its utilization and power would say so, not its temperature
        found += det.update(float(t), v)
    assert found == []
