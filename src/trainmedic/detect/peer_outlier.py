"""Cross-machine peer-outlier detection (the Minder idea): per metric, per window, which machine is
farthest from all its peers, and does it stay the farthest long enough to be believed.

Fed once per second with every card's metrics ([nodes, cards, metrics], `detect.metrics` order) by
the node agent's replay, the simulator benchmarks and the controller. Pure numpy, O(nodes) per tick.

Method, per metric m and per card slot k (slot k of one machine is compared with slot k of the others):
  1. counters become per-second rates (a reset or wrap gives 0, never a spike); gaps are filled from
     the last sample; each value is averaged over a sliding window of `window_s` seconds.
  2. the sum of Manhattan distances from machine i to all peers, divided by N, is
     s_i = mean_j |x_i - x_j|. Its maximum is at the largest or smallest value, where it is exactly
     max - mean or mean - min, so no pairwise matrix is needed. The scale is the typical distance,
     s(median) = mean_j |median - x_j| (floored per metric so a flat metric does not divide by 0).
  3. ratio = s_candidate / scale; the candidate machine is the one with the largest ratio over its
     slots (one bad card in eight is not diluted); the change must exceed a per-metric absolute
     minimum in the metric's own unit and lie on the metric's faulty side (hotter, slower clock,
     narrower link, more errors; utilization, power and memory either way).
  4. continuity gate: flag only when the same machine stays the candidate above `ratio` for
     `continuity_s` consecutive seconds (Minder: 4 min; we need <= 60 s, see docs/agent.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from trainmedic.detect.metrics import METRIC_INDEX, METRICS, NUM_METRICS, Kind
from trainmedic.detect.registry import register
from trainmedic.model import Action, Card, Component, Finding, Role, Severity, Symptom


@dataclass(frozen=True, slots=True)
class MetricRule:
    """How one metric is compared: the floor of its scale, the least change that matters (its unit),
    and which side of the peers is a sign of a fault ("up", "down" or "both")."""

    scale_floor: float
    min_delta: float
    component: Component
    direction: str = "both"


# Directions: a card cooler, faster-clocked, or with fewer errors than its peers is not sick in that
# metric (a cool card is explained by its lower power, which power and utilization judge).
DEFAULT_RULES: dict[str, MetricRule] = {
    "gpu_util_pct": MetricRule(2.0, 15.0, Component.ACCELERATOR),
    "mem_util_pct": MetricRule(2.0, 15.0, Component.MEMORY),
    "power_w": MetricRule(10.0, 60.0, Component.ACCELERATOR),
    "temp_c": MetricRule(1.0, 8.0, Component.ACCELERATOR, "up"),
    "mem_temp_c": MetricRule(1.0, 8.0, Component.MEMORY, "up"),
    "mem_used_mib": MetricRule(512.0, 4096.0, Component.MEMORY),
    "sm_clock_mhz": MetricRule(20.0, 200.0, Component.ACCELERATOR, "down"),
    "pcie_gen": MetricRule(0.5, 1.0, Component.PCIE, "down"),
    "pcie_width": MetricRule(0.5, 1.0, Component.PCIE, "down"),
    "pcie_replay_total": MetricRule(1.0, 5.0, Component.PCIE, "up"),
    "nvlink_tx_mbps": MetricRule(2000.0, 20000.0, Component.INTERCONNECT, "down"),
    "nvlink_err_total": MetricRule(1.0, 5.0, Component.INTERCONNECT, "up"),
    "ib_tx_mbps": MetricRule(500.0, 5000.0, Component.NETWORK, "down"),
    "ib_err_total": MetricRule(1.0, 5.0, Component.NETWORK, "up"),
    "ib_link_downed_total": MetricRule(0.05, 0.09, Component.NETWORK, "up"),
    "ib_rate_gbps": MetricRule(10.0, 50.0, Component.NETWORK, "down"),
}


@dataclass(frozen=True, slots=True)
class PeerOutlierConfig:
    """Tuning of the peer-outlier detector (defaults measured in benchmarks/peer_outlier.py)."""

    window_s: int = 10
    """Seconds averaged before comparing (noise suppression)."""
    continuity_s: int = 30
    """Seconds the same machine must stay the candidate before it is flagged."""
    ratio: float = 6.0
    """How many times farther from its peers than the typical machine the candidate must be."""
    min_peers: int = 7
    """Fewer machines than this: no comparison. With one outlier among N the ratio is at most about
    N - 1, so the default ratio needs at least 7 machines."""
    rules: dict[str, MetricRule] = field(default_factory=lambda: dict(DEFAULT_RULES))


@dataclass(frozen=True, slots=True)
class Candidate:
    """The farthest machine for one metric at one tick (exposed for tests and benchmarks)."""

    metric: str
    node: int
    slot: int
    ratio: float
    value: float
    peer_median: float


@register("peer_outlier")
class PeerOutlierDetector:
    """Stateful detector over a fixed set of machines; call `update` once per second."""

    def __init__(
        self,
        nodes: Sequence[str],
        cards_per_node: int,
        config: PeerOutlierConfig | None = None,
        cards: Sequence[Sequence[Card]] | None = None,
    ) -> None:
        self.config = cfg = config or PeerOutlierConfig()
        self.nodes = list(nodes)
        self.cards = cards
        self.n, self.k = len(self.nodes), cards_per_node
        self.metrics = [m for m in METRICS if m.name in cfg.rules]
        self.cols = np.array([METRIC_INDEX[m.name] for m in self.metrics])
        self.is_counter = np.array([m.kind is Kind.COUNTER for m in self.metrics])
        s = len(self.metrics)
        self.scale_floor = np.repeat([cfg.rules[m.name].scale_floor for m in self.metrics], self.k)
        self.min_delta = np.repeat([cfg.rules[m.name].min_delta for m in self.metrics], self.k)
        self.up_ok = np.repeat([cfg.rules[m.name].direction in ("up", "both") for m in self.metrics], self.k)
        self.down_ok = np.repeat([cfg.rules[m.name].direction in ("down", "both") for m in self.metrics], self.k)
        self._ring = np.zeros((cfg.window_s, s * self.k, self.n), dtype=np.float32)
        self._sum = np.zeros((s * self.k, self.n), dtype=np.float64)
        self._filled = 0
        self._pos = 0
        self._last: np.ndarray | None = None  # last raw values [n, k, M], gaps filled
        self._run_node = np.full(s, -1)
        self._run_len = np.zeros(s, dtype=np.int64)
        self._alerted: set[tuple[int, int]] = set()  # (metric idx, node) currently alerted
        self.missing_values = 0
        self.ticks = 0

    def _features(self, values: np.ndarray) -> np.ndarray:
        """Raw [n, k, M] -> per-second features [s*k, n] (counters as non-negative rates)."""
        if values.shape != (self.n, self.k, NUM_METRICS):
            raise ValueError(f"expected values of shape {(self.n, self.k, NUM_METRICS)}, got {values.shape}")
        raw = values[:, :, self.cols].astype(np.float32, copy=True)
        missing = np.isnan(raw)
        if self._last is None:
            # No history yet: a gap takes the peers' value, so it cannot look like an outlier.
            peer = np.nan_to_num(np.nanmedian(raw, axis=0)) if missing.any() else raw[0]
            first = np.where(missing, peer[None], raw)
            self._last = first
            rates = np.zeros_like(first)
            filled = first
        else:
            if missing.any():
                self.missing_values += int(missing.sum())
                raw[missing] = self._last[missing]
            delta = raw - self._last
            # A counter that went down was reset or wrapped: count it as no events, never a spike.
            rates = np.where(delta > 0, delta, np.float32(0.0))
            filled = raw
            self._last = raw
        feat = np.where(self.is_counter[None, None, :], rates, filled)
        return feat.transpose(2, 1, 0).reshape(len(self.metrics) * self.k, self.n)

    def candidates(self, values: np.ndarray) -> list[Candidate]:
        """Advance one tick and return, per metric, the farthest machine (whatever its ratio)."""
        cfg = self.config
        feat = self._features(values)
        self._sum += feat - self._ring[self._pos]
        self._ring[self._pos] = feat
        self._pos = (self._pos + 1) % cfg.window_s
        self._filled = min(self._filled + 1, cfg.window_s)
        self.ticks += 1
        if self.n < cfg.min_peers:
            return []
        x = (self._sum / self._filled).astype(np.float32)
        mean = x.mean(axis=1)
        med = np.partition(x, self.n // 2, axis=1)[:, self.n // 2]
        scale = np.maximum(np.abs(x - med[:, None]).mean(axis=1), self.scale_floor)
        hi, lo = x.argmax(axis=1), x.argmin(axis=1)
        rows = np.arange(x.shape[0])
        xmax, xmin = x[rows, hi], x[rows, lo]
        r_hi = np.where(self.up_ok & (xmax - med >= self.min_delta), (xmax - mean) / scale, 0.0)
        r_lo = np.where(self.down_ok & (med - xmin >= self.min_delta), (mean - xmin) / scale, 0.0)
        s = len(self.metrics)
        r_hi, r_lo = r_hi.reshape(s, self.k), r_lo.reshape(s, self.k)
        best_hi, best_lo = r_hi.argmax(axis=1), r_lo.argmax(axis=1)
        out = []
        for m in range(s):
            slot_hi, slot_lo = best_hi[m], best_lo[m]
            if r_hi[m, slot_hi] >= r_lo[m, slot_lo]:
                slot, ratio, row, node = slot_hi, r_hi[m, slot_hi], m * self.k + slot_hi, hi[m * self.k + slot_hi]
            else:
                slot, ratio, row, node = slot_lo, r_lo[m, slot_lo], m * self.k + slot_lo, lo[m * self.k + slot_lo]
            out.append(Candidate(self.metrics[m].name, int(node), int(slot), float(ratio), float(x[row, node]), float(med[row])))
        return out

    def update(self, at: float, values: np.ndarray) -> list[Finding]:
        """Feed one second of telemetry ([nodes, cards, metrics]); return the new findings."""
        findings = []
        for m, cand in enumerate(self.candidates(values)):
            if cand.ratio >= self.config.ratio:
                if self._run_node[m] == cand.node:
                    self._run_len[m] += 1
                else:
                    self._alerted.discard((m, int(self._run_node[m])))
                    self._run_node[m], self._run_len[m] = cand.node, 1
            else:
                self._alerted.discard((m, int(self._run_node[m])))
                self._run_node[m], self._run_len[m] = -1, 0
            if self._run_len[m] >= self.config.continuity_s and (m, cand.node) not in self._alerted:
                self._alerted.add((m, cand.node))
                findings.append(self._finding(at, cand))
        return findings

    def _finding(self, at: float, cand: Candidate) -> Finding:
        card = self.cards[cand.node][cand.slot] if self.cards is not None else None
        rule = self.config.rules[cand.metric]
        direction = "above" if cand.value > cand.peer_median else "below"
        return Finding(
            source="peer_outlier",
            symptom=Symptom.OUTLIER,
            at=at,
            node=self.nodes[cand.node],
            card_index=cand.slot,
            bus_id=card.bus_id if card else None,
            fault=f"telemetry.peer_outlier.{cand.metric}",
            component=rule.component,
            role=Role.ROOT,
            severity=Severity.ERROR,
            action=Action.DRAIN_NODE,
            message=(
                f"{self.nodes[cand.node]} card {cand.slot}: {cand.metric} {cand.value:.4g} is {direction} "
                f"its {self.n - 1} peers (median {cand.peer_median:.4g}), {cand.ratio:.1f}x the typical "
                f"distance, for {self.config.continuity_s}s"
            ),
            fields={
                "metric": cand.metric,
                "value": f"{cand.value:.6g}",
                "peer_median": f"{cand.peer_median:.6g}",
                "ratio": f"{cand.ratio:.3g}",
                "serial": (card.serial or "") if card else "",
            },
        )
