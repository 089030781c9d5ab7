"""The node agent loop: sample every collector, run the card-health detectors, watch the kernel log,
turn vendor events (NVML Xid, recovery action, npu-smi health) into findings, push them, and keep
the state /metrics and /health show.

`trainmedic agent run` drives `NodeAgent.tick()` once per interval; tests call `tick()` directly with
injected collectors, kernel sources and clock. Nothing here raises out of `tick()`: a failing
collector or source is recorded in `health()` and the loop goes on.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from trainmedic.agent.collectors.base import CardReading, Collector, Reading
from trainmedic.agent.collectors.nvidia import recovery_action_name
from trainmedic.agent.kmsg import CommandLines, KernelWatcher, KmsgReader
from trainmedic.agent.push import Pusher
from trainmedic.detect.metrics import METRIC_INDEX, METRIC_NAMES, NUM_METRICS
from trainmedic.detect.thresholds import CardHealthDetector, ThresholdConfig
from trainmedic.model import Action, Card, Component, Finding, Role, Severity, Symptom

log = logging.getLogger("trainmedic.agent")

RECOVERY_TO_ACTION = {
    "gpu_reset": Action.RESET_CARD,
    "bus_reset": Action.RESET_CARD,
    "drain_and_reset": Action.RESET_CARD,
    "drain_p2p": Action.DRAIN_NODE,
    "node_reboot": Action.REBOOT_NODE,
    "system_reboot": Action.REBOOT_NODE,
    "recover_imex_domain": Action.CONTACT_VENDOR,
}
ACCELERATORS = ("nvidia", "ascend")


@dataclass
class SourceHealth:
    """How one collector or kernel source has been doing."""

    ok: int = 0
    failed: int = 0
    last_ok_at: float | None = None
    last_error: str | None = None
    last_error_at: float | None = None
    card_errors: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "failed": self.failed, "last_ok_at": self.last_ok_at, "last_error": self.last_error,
                "last_error_at": self.last_error_at, "card_errors": dict(self.card_errors)}


class NodeAgent:
    """One node's agent: collectors + kernel source + detectors + optional push."""

    def __init__(
        self,
        node: str,
        collectors: Sequence[Collector],
        kernel: KmsgReader | CommandLines | None = None,
        watcher: KernelWatcher | None = None,
        pusher: Pusher | None = None,
        clock: Callable[[], float] = time.time,
        thresholds: ThresholdConfig | None = None,
        nic_to_card: dict[str, int] | None = None,
        keep_findings: int = 1000,
    ) -> None:
        self.node = node
        self.collectors = list(collectors)
        self.kernel = kernel
        self.watcher = watcher or (KernelWatcher(node, clock=clock) if kernel is not None else None)
        self.pusher = pusher
        self.clock = clock
        self.threshold_config = thresholds or ThresholdConfig()
        self.nic_to_card = nic_to_card
        self.started_at = clock()
        self.health_by_source: dict[str, SourceHealth] = {c.name: SourceHealth() for c in self.collectors}
        if kernel is not None:
            self.health_by_source["kernel"] = SourceHealth()
        self.cards: list[Card] = []
        self.last: dict[str, Reading] = {}
        self.card_values: np.ndarray = np.zeros((0, NUM_METRICS))
        self.card_extra: list[dict[str, float]] = []
        self.findings: deque[Finding] = deque(maxlen=keep_findings)
        self.findings_by_severity: dict[str, int] = {}
        self.ticks = 0
        self._detector: CardHealthDetector | None = None
        self._lost: set[int] = set()
        self._recovery: dict[int, float] = {}
        self._vendor_health: dict[int, float] = {}
        self._nic_state: dict[str, str] = {}
        self._links_max: dict[int, float] = {}
        self._links_alerted: set[int] = set()

    # -- one pass ----------------------------------------------------------------------------------

    def tick(self) -> list[Finding]:
        """Sample everything once; return (and record, and push) the new findings."""
        now = self.clock()
        self.ticks += 1
        new: list[Finding] = []
        readings = []
        for col in self.collectors:
            h = self.health_by_source[col.name]
            try:
                reading = col.collect()
            except Exception as exc:  # loop boundary: a collector bug must not stop the agent
                log.exception("collector %s failed", col.name)
                reading = Reading(col.name, now, errors=(f"{type(exc).__name__}: {exc}",))
            self._account(h, reading, now)
            self.last[col.name] = reading
            readings.append(reading)
        cards = self._merge(readings)
        if cards:
            new += self._card_findings(now, cards)
        new += self._nic_findings(now, readings)
        for reading in readings:
            new += self._events(reading)
        new += self._kernel(now)
        for f in new:
            self.findings.append(f)
            self.findings_by_severity[str(f.severity)] = self.findings_by_severity.get(str(f.severity), 0) + 1
            log.warning("finding %s %s: %s", f.severity, f.fault, f.message)
        if self.pusher is not None:
            try:
                self.pusher.submit(new)
            except OSError as exc:
                log.error("could not spool findings: %s", exc)
        return new

    def _account(self, h: SourceHealth, reading: Reading, now: float) -> None:
        card_errors = {str(c.card.index): "; ".join(c.errors) for c in reading.cards if c.errors}
        h.card_errors = card_errors
        if reading.errors:
            h.failed += 1
            text = "; ".join(reading.errors)
            if text != h.last_error:  # log a new problem once, not every second
                log.warning("%s: %s", reading.collector, text)
            h.last_error, h.last_error_at = text, now
        else:
            if h.last_error and (h.last_error_at or 0) >= (h.last_ok_at or 0):
                log.warning("%s: reading again", reading.collector)
            h.ok += 1
            h.last_ok_at = now

    def _merge(self, readings: Sequence[Reading]) -> list[CardReading]:
        """Accelerator cards from the vendor collector, NIC values folded into their cards."""
        cards: list[CardReading] = []
        for r in readings:
            if r.collector in ACCELERATORS and r.cards:
                cards = list(r.cards)
        if not cards:
            for r in readings:
                if r.cards:
                    cards = list(r.cards)
        nics = [n for r in readings for n in r.nics]
        vals = np.full((len(cards), NUM_METRICS), np.nan)
        for j, c in enumerate(cards):
            if c.lost:
                continue
            for k, v in c.values.items():
                if k in METRIC_INDEX:
                    vals[j, METRIC_INDEX[k]] = v
        for i, nic in enumerate(nics):
            slot: int | None = self.nic_to_card.get(f"{nic.device}/{nic.port}") if self.nic_to_card is not None else i
            if slot is None or not 0 <= slot < len(cards) or cards[slot].lost:
                continue
            for k, v in nic.values.items():
                vals[slot, METRIC_INDEX[k]] = v
        if [c.card for c in cards] != self.cards:
            self.cards = [c.card for c in cards]
            self._detector = CardHealthDetector([self.node], len(cards), self.threshold_config, cards=[self.cards])
            if self.watcher is not None:
                self.watcher.set_cards(self.cards)
        self.card_values = vals
        self.card_extra = [dict(c.extra) for c in cards]
        return cards

    def _card_findings(self, now: float, cards: list[CardReading]) -> list[Finding]:
        out: list[Finding] = []
        assert self._detector is not None
        out += self._detector.update(now, self.card_values[None])
        for j, c in enumerate(cards):
            if c.lost and j not in self._lost:
                out.append(self._finding(now, c.card, "accelerator.lost", Component.ACCELERATOR, Severity.CRITICAL,
                                         Action.REBOOT_NODE, f"card stopped answering: {'; '.join(c.errors) or 'lost'}"))
            if c.lost:
                self._lost.add(j)
            else:
                self._lost.discard(j)
            action = c.extra.get("recovery_action")
            if action and self._recovery.get(j) != action:
                name = recovery_action_name(action) or "unknown"
                out.append(self._finding(now, c.card, f"nvidia.recovery_action.{name}", Component.ACCELERATOR, Severity.ERROR,
                                         RECOVERY_TO_ACTION.get(name, Action.CONTACT_VENDOR), f"NVML asks for recovery action {name}"))
            self._recovery[j] = action or 0.0
            level = c.extra.get("health_level", 0.0)
            if level >= 2 and self._vendor_health.get(j, 0.0) < 2:
                word = {2: "Alarm", 3: "Critical"}.get(int(level), "unhealthy")
                out.append(self._finding(now, c.card, "ascend.health", Component.ACCELERATOR,
                                         Severity.CRITICAL if level >= 3 else Severity.ERROR, Action.RESET_CARD,
                                         f"npu-smi health {word} (error code {int(c.extra.get('error_code', 0)):#x})"))
            self._vendor_health[j] = level
            links = c.extra.get("nvlink_links_up")
            if links is not None:
                best = self._links_max[j] = max(self._links_max.get(j, 0.0), links)
                if links < best and j not in self._links_alerted:
                    self._links_alerted.add(j)
                    out.append(self._finding(now, c.card, "interconnect.nvlink_down", Component.INTERCONNECT, Severity.ERROR,
                                             Action.RESET_CARD, f"{int(best - links)} of {int(best)} NVLinks went inactive"))
                elif links >= best:
                    self._links_alerted.discard(j)
        return out

    def _nic_findings(self, now: float, readings: Sequence[Reading]) -> list[Finding]:
        """A NIC port that was ACTIVE and no longer is (cable pulled, switch port down)."""
        out: list[Finding] = []
        for i, nic in enumerate(n for r in readings for n in r.nics):
            key = f"{nic.device}/{nic.port}"
            before = self._nic_state.get(key)
            self._nic_state[key] = nic.state
            if before == "ACTIVE" and nic.state and nic.state != "ACTIVE":
                slot = self.nic_to_card.get(key) if self.nic_to_card is not None else i
                card = self.cards[slot] if slot is not None and 0 <= slot < len(self.cards) else Card(self.node, -1, bus_id=nic.bus_id)
                out.append(self._finding(now, card, "network.port_down", Component.NETWORK, Severity.ERROR, Action.DRAIN_NODE,
                                         f"NIC {key} went {nic.state} ({nic.phys_state or 'phys state unknown'})"))
        return out

    def _events(self, reading: Reading) -> list[Finding]:
        """NVML Xid events go through the same catalog as kernel-log Xid lines."""
        out: list[Finding] = []
        if self.watcher is None or not reading.events:
            return out
        for ev in reading.events:
            bus = (ev.bus_id or "0000:00:00.0")[:12].rstrip(".")
            out += self.watcher.match(f"NVRM: Xid (PCI:{bus}): {ev.code}, pid='<unknown>', name=<unknown>, {ev.text}", ev.at)
        return out

    def _kernel(self, now: float) -> list[Finding]:
        if self.kernel is None or self.watcher is None:
            return []
        h = self.health_by_source["kernel"]
        try:
            if isinstance(self.kernel, KmsgReader):
                found = self.watcher.records(self.kernel.poll())
            else:
                found = [f for line in self.kernel.poll() for f in self.watcher.match(line, now)]
        except Exception as exc:  # loop boundary
            log.exception("kernel source failed")
            self.kernel.error = f"{type(exc).__name__}: {exc}"
            found = []
        self._account(h, Reading("kernel", now, errors=(self.kernel.error,) if self.kernel.error else ()), now)
        return found

    def _finding(self, at: float, card: Card, fault: str, component: Component, severity: Severity,
                 action: Action, text: str) -> Finding:
        return Finding(source="agent", symptom=Symptom.TELEMETRY, at=at, node=self.node, card_index=card.index,
                       bus_id=card.bus_id, fault=fault, component=component, role=Role.ROOT, severity=severity,
                       action=action, message=f"{self.node} card {card.index}: {text}", fields={"serial": card.serial or ""})

    # -- views -------------------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        """The /health document: overall status, what could not be read, push queue, findings."""
        sources = {name: h.to_dict() for name, h in self.health_by_source.items()}
        degraded = [n for n, h in self.health_by_source.items() if h.last_error and (h.last_ok_at or 0) <= (h.last_error_at or 0)]
        degraded += [f"{n}/card{c}" for n, h in self.health_by_source.items() for c in h.card_errors]
        push = None
        if self.pusher is not None:
            p = self.pusher
            push = {"url": p.url, "pending": p.pending(), "sent": p.sent, "dropped": p.dropped, "failures": p.failures,
                    "last_error": p.last_error, "last_ok_at": p.last_ok_at}
        return {
            "status": "degraded" if degraded else "ok",
            "node": self.node,
            "started_at": self.started_at,
            "ticks": self.ticks,
            "cards": [c.to_dict() for c in self.cards],
            "unreadable": degraded,
            "sources": sources,
            "kernel_records_lost": getattr(self.kernel, "lost", 0),
            "push": push,
            "findings": {"by_severity": dict(self.findings_by_severity), "recent": [f.to_dict() for f in list(self.findings)[-20:]]},
        }

    def sample(self) -> dict[str, Any]:
        """The latest sample of every card and the host, for `--once --json`."""
        cards = []
        for j, card in enumerate(self.cards):
            vals = {n: (None if np.isnan(v) else float(v)) for n, v in zip(METRIC_NAMES, self.card_values[j], strict=True)}
            cards.append({**card.to_dict(), "metrics": {k: v for k, v in vals.items() if v is not None},
                          "extra": self.card_extra[j] if j < len(self.card_extra) else {}})
        host = {k: v for r in self.last.values() for k, v in r.host.items()}
        nics = [{"device": n.device, "port": n.port, "bus_id": n.bus_id, "state": n.state, "phys_state": n.phys_state, **n.values}
                for r in self.last.values() for n in r.nics]
        return {"node": self.node, "at": self.clock(), "cards": cards, "nics": nics, "host": host}
