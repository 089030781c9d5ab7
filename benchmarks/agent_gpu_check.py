"""One short check of the NVIDIA adapter against a real card (run on a GPU machine; not a benchmark).

Reads every card once through the real `pynvml`, prints identity, the shared metrics, the vendor
extras and every call that failed, then renders /metrics once. Exit 1 if NVML cannot start.

    python benchmarks/agent_gpu_check.py
"""

from __future__ import annotations

import json
import sys

from trainmedic.agent.collectors.nvidia import NvidiaCollector
from trainmedic.agent.exporter import render_metrics
from trainmedic.agent.runner import NodeAgent


def main() -> int:
    col = NvidiaCollector("gpu-check")
    reading = col.collect()
    if not reading.cards:
        print(json.dumps({"errors": list(reading.errors)}, indent=2))
        return 1
    for c in reading.cards:
        print(json.dumps({"card": c.card.to_dict(), "values": c.values, "extra": c.extra, "errors": list(c.errors), "lost": c.lost}, indent=1))
    print("collector errors:", list(reading.errors), "events:", [(e.card_index, e.code) for e in reading.events])
    agent = NodeAgent("gpu-check", [col])
    found = agent.tick()
    print("findings:", [f.to_dict() for f in found])
    text = render_metrics(agent).decode()
    print("\n".join(ln for ln in text.splitlines() if ln.startswith("trainmedic_gpu_") and 'card="0"' in ln))
    print(f"SUMMARY agent_gpu_check: {len(reading.cards)} cards read, {sum(len(c.errors) for c in reading.cards)} call errors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
