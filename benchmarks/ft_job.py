"""The reference job (examples/ddp_train.py) with NVRx fault-tolerance heartbeats, for ft_launcher.

Used by benchmarks/recovery_vs_peers.py: a RankMonitorClient is set up after the process group
exists and sends one heartbeat at the top of every step, as NVRx's docs describe.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))

import ddp_train

_client: Any = None


def on_step(step: int) -> None:
    global _client
    if _client is None:
        from nvidia_resiliency_ext.fault_tolerance import RankMonitorClient

        _client = RankMonitorClient()
        _client.init_workload_monitoring()
    _client.send_heartbeat()


if __name__ == "__main__":
    ddp_train.main(on_step=on_step)
