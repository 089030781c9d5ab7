"""Host adapter through psutil: CPU, memory, load and uptime of the node itself.

psutil is injected (`psutil_module=`) so tests can pin its answers; on a real node the default is the
installed psutil reading /proc.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from trainmedic.agent.collectors.base import Reading, register_collector


@register_collector("host")
class HostCollector:
    """CPU use (since the previous call), memory use, 1-minute load and uptime."""

    name = "host"

    def __init__(self, node: str, psutil_module: Any = None, clock: Callable[[], float] = time.time) -> None:
        if psutil_module is None:
            import psutil as psutil_module
        self.node = node
        self.ps = psutil_module
        self.clock = clock

    def collect(self) -> Reading:
        at = self.clock()
        host: dict[str, float] = {}
        errors: list[str] = []
        for key, fn in (
            ("cpu_util_pct", lambda: self.ps.cpu_percent(interval=None)),
            ("mem_used_pct", lambda: self.ps.virtual_memory().percent),
            ("load1", lambda: self.ps.getloadavg()[0]),
            ("uptime_s", lambda: at - self.ps.boot_time()),
        ):
            try:
                host[key] = float(fn())
            except Exception as exc:
                errors.append(f"host {key}: {exc}")
        return Reading(self.name, at, host=host, errors=tuple(errors))
