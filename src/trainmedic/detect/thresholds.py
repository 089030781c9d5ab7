"""Card health thresholds: uncorrectable ECC, failed row remap, thermal limits, hardware slowdown,
PCIe width/speed downgrade and replay storms, NIC link flaps and degraded rate, NVLink errors, and
cards that stop answering.

Fed once per sample with [nodes, cards, metrics] arrays (`detect.metrics` order; NaN = unreadable);
vectorized over every card, so the node agent (1 node) and a cluster replay (2,304 nodes) share it.
Counters that go down were reset or wrapped: they re-baseline and never count as events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from trainmedic.detect.metrics import COUNTER_COLUMNS, METRIC_INDEX, NUM_METRICS
from trainmedic.detect.registry import register
from trainmedic.model import Action, Card, Component, Finding, Role, Severity, Symptom

M = METRIC_INDEX
HW_SLOWDOWN_BITS = 0x8 | 0x40 | 0x80  # HW slowdown, HW thermal slowdown, HW power brake


@dataclass(frozen=True, slots=True)
class ThresholdConfig:
    """Limits; defaults follow NVIDIA data-center cards (H100 slowdown ~87 C, shutdown ~92 C)."""

    temp_slowdown_c: float = 87.0
    """Die temperature at which the card slows itself down."""
    temp_shutdown_c: float = 92.0
    """Die temperature close to the card's own shutdown."""
    temp_hysteresis_c: float = 3.0
    """A thermal alert re-arms only after the card cools this far below the limit."""
    hw_slowdown_samples: int = 5
    """Consecutive samples with a hardware slowdown reason before it is reported."""
    pcie_replay_per_s: float = 10.0
    """PCIe replays per second that count as a replay storm."""
    nvlink_err_per_s: float = 5.0
    """NVLink errors per second that count as an error stream."""
    ib_err_per_s: float = 5.0
    """NIC symbol/receive errors per second that count as a bad link."""
    flap_window_s: float = 300.0
    """Window for counting NIC link-down events."""
    flaps_for_error: int = 2
    """Link-down events within the window that make a flapping link (one is a warning)."""
    unreadable_samples: int = 3
    """Consecutive unreadable samples before a card is reported as not answering."""


@dataclass(frozen=True, slots=True)
class _Rule:
    fault: str
    component: Component
    severity: Severity
    action: Action
    title: str


RULES = {
    "ecc_dbe": _Rule("memory.ecc_dbe", Component.MEMORY, Severity.CRITICAL, Action.RESET_CARD, "uncorrectable ECC error"),
    "remap_failure": _Rule("memory.row_remap_failure", Component.MEMORY, Severity.CRITICAL, Action.REPLACE_CARD, "row remapping failed"),
    "temp_slowdown": _Rule("thermal.slowdown", Component.ACCELERATOR, Severity.WARNING, Action.NONE, "temperature at the slowdown limit"),
    "temp_shutdown": _Rule("thermal.shutdown", Component.ACCELERATOR, Severity.ERROR, Action.DRAIN_NODE, "temperature near shutdown"),
    "hw_slowdown": _Rule("accelerator.hw_slowdown", Component.ACCELERATOR, Severity.WARNING, Action.NONE, "hardware clock slowdown"),
    "pcie_width": _Rule("pcie.width_downgrade", Component.PCIE, Severity.ERROR, Action.DRAIN_NODE, "PCIe link width downgraded"),
    "pcie_gen": _Rule("pcie.speed_downgrade", Component.PCIE, Severity.WARNING, Action.DRAIN_NODE, "PCIe link speed downgraded"),
    "pcie_replay": _Rule("pcie.replay_storm", Component.PCIE, Severity.WARNING, Action.NONE, "PCIe replay storm"),
    "nvlink_err": _Rule("interconnect.nvlink_errors", Component.INTERCONNECT, Severity.WARNING, Action.RESET_CARD, "NVLink errors"),
    "ib_err": _Rule("network.link_errors", Component.NETWORK, Severity.WARNING, Action.NONE, "NIC link errors"),
    "ib_flap": _Rule("network.link_flap", Component.NETWORK, Severity.ERROR, Action.DRAIN_NODE, "NIC link flapping"),
    "ib_rate": _Rule("network.link_degraded", Component.NETWORK, Severity.WARNING, Action.DRAIN_NODE, "NIC link rate degraded"),
    "unreadable": _Rule("accelerator.unreadable", Component.ACCELERATOR, Severity.ERROR, Action.REBOOT_NODE, "card not answering"),
}
RULE_NAMES = tuple(RULES)


@register("thresholds")
class CardHealthDetector:
    """Stateful per-card limit checks; one alert per (card, rule) until the condition clears."""

    def __init__(
        self,
        nodes: Sequence[str],
        cards_per_node: int,
        config: ThresholdConfig | None = None,
        cards: Sequence[Sequence[Card]] | None = None,
    ) -> None:
        self.config = config or ThresholdConfig()
        self.nodes = list(nodes)
        self.cards = cards
        n, k = len(self.nodes), cards_per_node
        self.shape = (n, k)
        self._last: np.ndarray | None = None
        self._active = np.zeros((len(RULE_NAMES), n, k), dtype=bool)
        self._hw_run = np.zeros((n, k), dtype=np.int64)
        self._missing_run = np.zeros((n, k), dtype=np.int64)
        self._max_width = np.zeros((n, k))
        self._max_gen = np.zeros((n, k))
        self._max_rate = np.zeros((n, k))
        self._flaps: dict[tuple[int, int], list[float]] = {}  # only cards that have had a link-down
        self._last_at: float | None = None

    def update(self, at: float, values: np.ndarray) -> list[Finding]:
        """One sample of every card ([nodes, cards, metrics]); returns the new findings."""
        cfg = self.config
        n, k = self.shape
        if values.shape != (n, k, NUM_METRICS):
            raise ValueError(f"expected values of shape {(n, k, NUM_METRICS)}, got {values.shape}")
        nan = np.isnan(values)
        unread = nan.all(axis=2)
        self._missing_run = np.where(unread, self._missing_run + 1, 0)
        dt = max(1e-3, at - self._last_at) if self._last_at is not None else 1.0
        cc = list(COUNTER_COLUMNS)
        if self._last is None:
            self._last = np.where(nan, np.float32(0.0), values).astype(np.float32)
            delta = np.zeros((n, k, NUM_METRICS), dtype=np.float32)
        else:
            filled = np.where(nan, self._last, values)
            delta = np.zeros((n, k, NUM_METRICS), dtype=np.float32)
            raw = filled[:, :, cc] - self._last[:, :, cc]
            delta[:, :, cc] = np.where(raw > 0, raw, np.float32(0.0))  # reset or wrap: no events, new baseline
            self._last = filled
        self._last_at = at
        v = values
        cur = self._last
        readable = ~unread
        for name, arr in (("pcie_width", self._max_width), ("pcie_gen", self._max_gen), ("ib_rate_gbps", self._max_rate)):
            col = v[:, :, M[name]]
            np.fmax(arr, col, out=arr)
        # Expected link width / speed / rate: the best any card on the same node has shown.
        exp_width = self._max_width.max(axis=1, keepdims=True)
        exp_gen = self._max_gen.max(axis=1, keepdims=True)
        exp_rate = self._max_rate.max(axis=1, keepdims=True)
        hw = (cur[:, :, M["throttle_reasons"]].astype(np.int64) & HW_SLOWDOWN_BITS) != 0
        self._hw_run = np.where(hw & readable, self._hw_run + 1, 0)
        temp = cur[:, :, M["temp_c"]]
        downs = delta[:, :, M["ib_link_downed_total"]]
        flap_count = self._count_flaps(at, downs)
        cond = {
            "ecc_dbe": delta[:, :, M["ecc_dbe_total"]] > 0,
            "remap_failure": cur[:, :, M["remap_failure"]] >= 1,
            "temp_slowdown": self._hyst(temp, cfg.temp_slowdown_c, "temp_slowdown"),
            "temp_shutdown": self._hyst(temp, cfg.temp_shutdown_c, "temp_shutdown"),
            "hw_slowdown": self._hw_run >= cfg.hw_slowdown_samples,
            "pcie_width": readable & (cur[:, :, M["pcie_width"]] > 0) & (cur[:, :, M["pcie_width"]] < exp_width),
            "pcie_gen": readable & (cur[:, :, M["pcie_gen"]] > 0) & (cur[:, :, M["pcie_gen"]] < exp_gen),
            "pcie_replay": delta[:, :, M["pcie_replay_total"]] / dt >= cfg.pcie_replay_per_s,
            "nvlink_err": delta[:, :, M["nvlink_err_total"]] / dt >= cfg.nvlink_err_per_s,
            "ib_err": delta[:, :, M["ib_err_total"]] / dt >= cfg.ib_err_per_s,
            "ib_flap": flap_count >= cfg.flaps_for_error,
            "ib_rate": readable & (cur[:, :, M["ib_rate_gbps"]] > 0) & (cur[:, :, M["ib_rate_gbps"]] < exp_rate),
            "unreadable": self._missing_run >= cfg.unreadable_samples,
        }
        findings: list[Finding] = []
        for r, name in enumerate(RULE_NAMES):
            c = cond[name]
            if name != "ecc_dbe":  # a DBE is an event: every new one is reported
                new = c & ~self._active[r]
                self._active[r] = c
            else:
                new = c
            if not new.any():
                continue
            for i, j in zip(*np.nonzero(new), strict=True):
                findings.append(self._finding(at, name, int(i), int(j), cur[i, j], delta[i, j], int(flap_count[i, j])))
        return findings

    def _hyst(self, temp: np.ndarray, limit: float, name: str) -> np.ndarray:
        active = self._active[RULE_NAMES.index(name)]
        return np.where(active, temp > limit - self.config.temp_hysteresis_c, temp >= limit)

    def _count_flaps(self, at: float, downs: np.ndarray) -> np.ndarray:
        out = np.zeros(self.shape, dtype=np.int64)
        horizon = at - self.config.flap_window_s
        for i, j in zip(*np.nonzero(downs > 0), strict=True):
            self._flaps.setdefault((int(i), int(j)), []).extend([at] * int(downs[i, j]))
        for key, times in list(self._flaps.items()):
            while times and times[0] < horizon:
                times.pop(0)
            if times:
                out[key] = len(times)
            else:
                del self._flaps[key]
        return out

    def _finding(self, at: float, name: str, i: int, j: int, cur: np.ndarray, delta: np.ndarray, flaps: int) -> Finding:
        rule = RULES[name]
        card = self.cards[i][j] if self.cards is not None else None
        detail = {
            "ecc_dbe": f"{int(delta[M['ecc_dbe_total']])} new, {int(cur[M['ecc_dbe_total']])} total",
            "temp_slowdown": f"{cur[M['temp_c']]:.0f} C >= {self.config.temp_slowdown_c:.0f} C",
            "temp_shutdown": f"{cur[M['temp_c']]:.0f} C >= {self.config.temp_shutdown_c:.0f} C",
            "hw_slowdown": f"clock event reasons 0x{int(cur[M['throttle_reasons']]):x}, SM clock {cur[M['sm_clock_mhz']]:.0f} MHz",
            "pcie_width": f"x{int(cur[M['pcie_width']])} (expected x{int(self._max_width[i].max())})",
            "pcie_gen": f"gen {int(cur[M['pcie_gen']])} (expected gen {int(self._max_gen[i].max())})",
            "pcie_replay": f"+{int(delta[M['pcie_replay_total']])} replays",
            "nvlink_err": f"+{int(delta[M['nvlink_err_total']])} errors",
            "ib_err": f"+{int(delta[M['ib_err_total']])} errors",
            "ib_flap": f"{flaps} link-down events in {self.config.flap_window_s:.0f}s",
            "ib_rate": f"{cur[M['ib_rate_gbps']]:.0f} Gb/s (expected {self._max_rate[i].max():.0f})",
            "unreadable": f"no reading for {int(self._missing_run[i, j])} samples",
        }.get(name, "")
        fields = {"rule": name, "serial": (card.serial or "") if card else ""}
        return Finding(
            source="thresholds",
            symptom=Symptom.TELEMETRY,
            at=at,
            node=self.nodes[i],
            card_index=j,
            bus_id=card.bus_id if card else None,
            rule=f"thresholds.{name}",
            fault=rule.fault,
            component=rule.component,
            role=Role.ROOT,
            severity=rule.severity,
            action=rule.action,
            message=f"{self.nodes[i]} card {j}: {rule.title}" + (f" ({detail})" if detail else ""),
            fields=fields,
        )
