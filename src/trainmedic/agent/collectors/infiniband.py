"""InfiniBand / RoCE adapter through sysfs: /sys/class/infiniband/<dev>/ports/<n>/{state, phys_state,
rate, counters/*}. The root is injected so tests read a recorded tree (tests/data/agent/sys/).

Counters: link_downed, symbol_error, port_rcv_errors, port_xmit_data (4-byte words). Throughput is
the port_xmit_data delta between calls; a counter that went backwards wrapped (32-bit) or was reset.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path

from trainmedic.agent.busid import normalize_bus_id
from trainmedic.agent.collectors.base import NicReading, Reading, register_collector

_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*Gb/sec")


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except OSError:
        return None


def _word(state: str | None) -> str:
    """'4: ACTIVE' -> 'ACTIVE'."""
    return state.split(":", 1)[-1].strip() if state else ""


@register_collector("infiniband")
class InfinibandCollector:
    """Every port of every RDMA device under `root` (default /sys/class/infiniband)."""

    name = "infiniband"

    def __init__(self, node: str, root: Path = Path("/sys/class/infiniband"), clock: Callable[[], float] = time.time) -> None:
        self.node = node
        self.root = Path(root)
        self.clock = clock
        self._prev: dict[tuple[str, int], tuple[float, float]] = {}  # (dev, port) -> (at, xmit words)

    def collect(self) -> Reading:
        at = self.clock()
        if not self.root.is_dir():
            return Reading(self.name, at, errors=(f"{self.root} not found: no RDMA devices (or no ib driver loaded)",))
        nics: list[NicReading] = []
        errors: list[str] = []
        for dev in sorted(p for p in self.root.iterdir() if p.is_dir()):
            bus = self._bus_id(dev)
            ports = dev / "ports"
            for port_dir in sorted((p for p in ports.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)) if ports.is_dir() else []:
                port = int(port_dir.name)
                vals: dict[str, float] = {}
                rate = _RATE.match(_read(port_dir / "rate") or "")
                if rate:
                    vals["ib_rate_gbps"] = float(rate.group(1))
                counters = {}
                for name in ("link_downed", "symbol_error", "port_rcv_errors", "port_xmit_data", "link_error_recovery"):
                    raw = _read(port_dir / "counters" / name)
                    if raw is None:
                        continue
                    try:
                        counters[name] = float(int(raw))
                    except ValueError:
                        errors.append(f"{port_dir / 'counters' / name}: not a number ({raw[:40]!r})")
                if "link_downed" in counters:
                    vals["ib_link_downed_total"] = counters["link_downed"]
                if "symbol_error" in counters or "port_rcv_errors" in counters:
                    vals["ib_err_total"] = counters.get("symbol_error", 0.0) + counters.get("port_rcv_errors", 0.0)
                if "port_xmit_data" in counters:
                    self._throughput(dev.name, port, at, counters["port_xmit_data"], vals)
                nics.append(NicReading(device=dev.name, port=port, bus_id=bus, values=vals,
                                       state=_word(_read(port_dir / "state")), phys_state=_word(_read(port_dir / "phys_state"))))
        return Reading(self.name, at, nics=tuple(nics), errors=tuple(errors))

    def _throughput(self, dev: str, port: int, at: float, words: float, vals: dict[str, float]) -> None:
        prev = self._prev.get((dev, port))
        self._prev[(dev, port)] = (at, words)
        if prev is None or at <= prev[0]:
            return
        delta = words - prev[1]
        if delta < 0:
            delta = words + 2**32 - prev[1] if prev[1] < 2**32 else 0.0  # 32-bit wrap, else a reset
        vals["ib_tx_mbps"] = delta * 4 / (at - prev[0]) / 1e6

    @staticmethod
    def _bus_id(dev: Path) -> str | None:
        uevent = _read(dev / "device" / "uevent") or ""
        for line in uevent.splitlines():
            if line.startswith("PCI_SLOT_NAME="):
                return normalize_bus_id(line.split("=", 1)[1])
        try:
            return normalize_bus_id((dev / "device").resolve().name)
        except OSError:
            return None
