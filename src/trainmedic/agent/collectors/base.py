"""The collector protocol, its registry and the values a collector returns.

A vendor adapter is one module with a decorated class:

    @register_collector("nvidia")
    class NvidiaCollector:
        name = "nvidia"
        def collect(self) -> Reading: ...

The agent builds collectors by name from `COLLECTORS`; tests build them directly with injected
handles and roots. A collector never raises from `collect`: what it could not read goes into
`Reading.errors` (and into /health).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from trainmedic.detect.registry import Registry
from trainmedic.model import Card


@dataclass(frozen=True, slots=True)
class CardReading:
    """One card's sample: `values` use `detect.metrics` names; a metric not read is absent."""

    card: Card
    values: dict[str, float] = field(default_factory=dict)
    extra: dict[str, float] = field(default_factory=dict)
    """Vendor values outside the shared schema (retired pages, recovery action, fan, ...)."""
    errors: tuple[str, ...] = ()
    lost: bool = False
    """The card stopped answering (fell off the bus, NVML says GPU is lost)."""


@dataclass(frozen=True, slots=True)
class NicReading:
    """One NIC port: InfiniBand or RoCE counters and state."""

    device: str
    port: int
    bus_id: str | None
    values: dict[str, float] = field(default_factory=dict)
    state: str = ""
    phys_state: str = ""


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """An asynchronous event a vendor library reported (an NVML Xid, say), tied to a card."""

    card_index: int | None
    bus_id: str | None
    code: int
    text: str
    at: float


@dataclass(frozen=True, slots=True)
class Reading:
    """What one collector read in one pass."""

    collector: str
    at: float
    cards: tuple[CardReading, ...] = ()
    nics: tuple[NicReading, ...] = ()
    host: dict[str, float] = field(default_factory=dict)
    events: tuple[DeviceEvent, ...] = ()
    errors: tuple[str, ...] = ()


@runtime_checkable
class Collector(Protocol):
    """A vendor adapter: `collect()` returns one Reading and never raises."""

    name: str

    def collect(self) -> Reading: ...


COLLECTORS = Registry(kind="collector")
register_collector = COLLECTORS.register
