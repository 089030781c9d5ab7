"""Vendor adapters: importing this package registers every built-in collector in `COLLECTORS`."""

from trainmedic.agent.collectors import ascend, host, infiniband, nvidia
from trainmedic.agent.collectors.base import (
    COLLECTORS,
    CardReading,
    Collector,
    DeviceEvent,
    NicReading,
    Reading,
    register_collector,
)

__all__ = [
    "COLLECTORS",
    "CardReading",
    "Collector",
    "DeviceEvent",
    "NicReading",
    "Reading",
    "ascend",
    "host",
    "infiniband",
    "nvidia",
    "register_collector",
]
