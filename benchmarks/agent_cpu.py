"""CPU cost of the node agent at 1 Hz sampling of 8 cards, from fixtures (no GPU here).

Runs the real agent loop (NVIDIA collector over recorded NVML responses, host through psutil,
InfiniBand from a sysfs tree, kernel log from a kmsg file, thresholds, /metrics rendered each tick
as a scrape would) for DURATION seconds of wall time, and the floor: the same 1 Hz loop doing
nothing. CPU time (user + system) comes from psutil for this process.

    python benchmarks/agent_cpu.py [--duration-s 60]
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import threading
import time
from pathlib import Path

import psutil

from trainmedic.agent.collectors.host import HostCollector
from trainmedic.agent.collectors.infiniband import InfinibandCollector
from trainmedic.agent.collectors.nvidia import NvidiaCollector
from trainmedic.agent.collectors.nvml_replay import RecordedNvml
from trainmedic.agent.exporter import render_metrics
from trainmedic.agent.kmsg import KmsgReader
from trainmedic.agent.runner import NodeAgent

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "agent"


def _loop(duration_s: float, work) -> float:
    proc = psutil.Process()
    stop = threading.Event()
    c0 = proc.cpu_times()
    end = time.monotonic() + duration_s
    nxt = time.monotonic()
    while time.monotonic() < end:
        work()
        nxt += 1.0
        stop.wait(max(0.0, nxt - time.monotonic()))
    c1 = proc.cpu_times()
    return (c1.user - c0.user) + (c1.system - c0.system)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration-s", type=float, default=60.0)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="agent-cpu-"))
    try:
        kmsg = tmp / "kmsg"
        shutil.copy(DATA / "kmsg" / "gpud-kmsg.1.log", kmsg)
        nvml = RecordedNvml.load(DATA / "nvml_h100x8.json")
        agent = NodeAgent("bench", [NvidiaCollector("bench", nvml=nvml), HostCollector("bench"),
                                    InfinibandCollector("bench", root=DATA / "sys" / "class" / "infiniband")],
                          kernel=KmsgReader(kmsg))
        agent.tick()  # warm: catalog compiled, NVML "initialised"

        def work() -> None:
            agent.tick()
            render_metrics(agent)

        floor = _loop(args.duration_s, lambda: None)
        busy = _loop(args.duration_s, work)
        calls = nvml.calls
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    pct = 100 * busy / args.duration_s
    floor_pct = 100 * floor / args.duration_s
    print(f"agent loop: {busy:.3f} CPU s in {args.duration_s:.0f} s = {pct:.2f}% of one core "
          f"(8 cards, {calls} recorded NVML calls, /metrics rendered every tick)")
    print(f"floor (same 1 Hz loop doing nothing): {floor:.3f} CPU s = {floor_pct:.2f}%")
    ratio = f"{busy / floor:.0f}x the floor" if floor > 0 else "the floor is below the 10 ms CPU-clock resolution"
    print(f"agent above floor: {pct - floor_pct:.2f}% of one core; {ratio}")
    print(f"SUMMARY agent_cpu: {pct:.2f}% of one core at 1 Hz x 8 cards (floor {floor_pct:.2f}%)")


if __name__ == "__main__":
    main()
