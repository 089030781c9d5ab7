"""Writes simulated telemetry to disk in the format `trainmedic agent --replay DIR` reads.

    DIR/manifest.json                          format, version, metric names and units, nodes, card
                                               identities, start time, length, chunk length
    DIR/telemetry/<node>/<start_s:08d>.npy     values [T, cards, metrics] float32 (a .npy, so readers can
                                               memory-map it); second s of the file is start_at + start_s + s
    DIR/kmsg/<node>.kmsg                       kernel log in /dev/kmsg record format
    DIR/truth.json                             ground truth; written last, so a DIR with it is complete

One file per node per chunk; generation runs `SLICE_S` seconds of the whole cluster at a time into
memory-mapped files, so memory stays bounded whatever the chunk length, and a replay of one node reads
only its own files. Called by `trainmedic sim telemetry`.
"""

from __future__ import annotations

import json
import os
import random
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from trainmedic.detect.metrics import METRICS
from trainmedic.model import Component
from trainmedic.sim.telemetry import FaultSpec, TelemetryFault, TelemetrySim
from trainmedic.sim.topology import Topology

FORMAT = "trainmedic-telemetry"
VERSION = 1
SLICE_S = 60
"""Seconds of the whole cluster generated (and held in memory) at once."""
BOOT_BEFORE_START_S = 86_400.0
"""The simulated nodes booted a day before the run starts (kmsg timestamps count from boot)."""

# Benign kernel lines as real nodes print them (gpud testdata kmsg captures, see tests/data/agent/README.md).
BENIGN_KERNEL = (
    "nvidia-nvswitch2: open (major=510)",
    "nvidia-nvswitch3: open (major=510)",
    "NVRM: loading NVIDIA UNIX Open Kernel Module for x86_64  570.158.01  Release Build",
    "mlx5_core 0000:4b:00.0: mlx5_pcie_event:301:(pid 1234): PCIe slot advertised sufficient power (75W).",
    "IPv6: ADDRCONF(NETDEV_CHANGE): ib0: link becomes ready",
)

FAULT_COMPONENT = {
    TelemetryFault.NONE: Component.UNKNOWN,
    TelemetryFault.THERMAL_RUNAWAY: Component.ACCELERATOR,
    TelemetryFault.CLOCK_THROTTLE: Component.ACCELERATOR,
    TelemetryFault.PCIE_DOWNGRADE: Component.PCIE,
    TelemetryFault.LINK_DEGRADED: Component.NETWORK,
    TelemetryFault.LINK_FLAP: Component.NETWORK,
    TelemetryFault.NVLINK_ERRORS: Component.INTERCONNECT,
    TelemetryFault.SLOW_CARD: Component.ACCELERATOR,
    TelemetryFault.ECC_DBE: Component.MEMORY,
}


class TelemetryWriteError(OSError):
    """The output could not be written (full disk, no permission); the message names the path."""


@dataclass(frozen=True, slots=True)
class WriteStats:
    """What a write produced."""

    files: int
    bytes: int
    seconds_simulated: int


def plan_fault(topo: Topology, kind: TelemetryFault, seconds: int, seed: int, node: int | None = None,
               card: int | None = None, at_s: int | None = None, severity: float = 1.0) -> tuple[FaultSpec, ...]:
    """One fault of `kind` on a seeded random card (or the one given), starting at a third of the run."""
    if kind is TelemetryFault.NONE:
        return ()
    rnd = random.Random(seed)
    node = rnd.randrange(topo.nodes) if node is None else node
    card = rnd.randrange(topo.cards_per_node) if card is None else card
    at_s = max(1, seconds // 3) if at_s is None else at_s
    if not 0 <= at_s < seconds:
        raise ValueError(f"fault start {at_s}s is outside the run of {seconds}s")
    if not 0.0 < severity <= 10.0:
        raise ValueError(f"fault severity {severity} must be in (0, 10]")
    return (FaultSpec(kind, node, card, at_s, severity),)


def _kmsg_record(seq: int, usec: int, text: str, level: int = 4) -> str:
    return f"{level},{seq},{usec},-;{text}\n"


def write_telemetry(out: Path, topo: Topology, sim: TelemetrySim, seconds: int, chunk_s: int = 600) -> WriteStats:
    """Generate `seconds` of telemetry chunk by chunk into `out`; truth.json last. Raises TelemetryWriteError."""
    if seconds < 1:
        raise ValueError("need at least 1 second of telemetry")
    chunk_s = max(1, min(chunk_s, seconds))
    files = size = 0
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / "truth.json").unlink(missing_ok=True)
        names = [topo.node_name(i) for i in range(topo.nodes)]
        manifest = {
            "format": FORMAT,
            "version": VERSION,
            "metrics": [m.name for m in METRICS],
            "units": [m.unit for m in METRICS],
            "kinds": [str(m.kind) for m in METRICS],
            "nodes": names,
            "cards_per_node": topo.cards_per_node,
            "cards": [[topo.card(i, j).to_dict() for j in range(topo.cards_per_node)] for i in range(topo.nodes)],
            "start_at": sim.start_epoch,
            "boot_at": sim.start_epoch - BOOT_BEFORE_START_S,
            "seconds": seconds,
            "chunk_s": chunk_s,
        }
        (out / "manifest.json").write_text(json.dumps(manifest))
        files += 1
        for name in names:
            (out / "telemetry" / name).mkdir(parents=True, exist_ok=True)
        shape_tail = (topo.cards_per_node, len(METRICS))
        for start in range(0, seconds, chunk_s):
            length = min(chunk_s, seconds - start)
            paths = [out / "telemetry" / name / f"{start:08d}.npy" for name in names]
            for a in range(0, length, SLICE_S):
                _, values = sim.chunk(min(SLICE_S, length - a))
                for i, path in enumerate(paths):
                    mm = np.lib.format.open_memmap(path, mode="w+" if a == 0 else "r+", dtype=np.float32, shape=(length, *shape_tail))
                    mm[a:a + len(values)] = values[:, i]
                    mm.flush()
                    del mm
            files += len(paths)
            size += sum(p.stat().st_size for p in paths)
        size += _write_kmsg(out, topo, sim, seconds)
        files += topo.nodes
        truth = {
            "scenario": "telemetry",
            "fault": str(sim.faults[0].kind) if sim.faults else "none",
            "fault_id": f"telemetry.{sim.faults[0].kind}" if sim.faults else None,
            "component": str(FAULT_COMPONENT[sim.faults[0].kind]) if sim.faults else None,
            "culprit": _culprit(topo, sim.faults[0]) if sim.faults else None,
            "injected_at": sim.start_epoch + sim.faults[0].start_s if sim.faults else None,
            "faults": [f.to_dict(topo, sim.start_epoch) for f in sim.faults],
            "nodes": topo.nodes,
            "cards_per_node": topo.cards_per_node,
            "seed": sim.seed,
            "start_at": sim.start_epoch,
            "seconds": seconds,
        }
        tmp = out / "truth.json.tmp"
        tmp.write_text(json.dumps(truth, indent=2))
        os.replace(tmp, out / "truth.json")
        files += 1
    except OSError as exc:
        raise TelemetryWriteError(f"writing telemetry under {out} failed: {exc}") from exc
    return WriteStats(files=files, bytes=size, seconds_simulated=seconds)


def _culprit(topo: Topology, f: FaultSpec) -> dict[str, object]:
    rank = f.node * topo.cards_per_node + f.card
    return topo.locate(rank).to_dict()


def _write_kmsg(out: Path, topo: Topology, sim: TelemetrySim, seconds: int) -> int:
    """Per-node kernel logs: a few benign lines plus what the faults on that node print."""
    (out / "kmsg").mkdir(parents=True, exist_ok=True)
    size = 0
    for i in range(topo.nodes):
        rnd = random.Random(f"{sim.seed}:{i}")
        lines = [(float(rnd.uniform(0, seconds)), rnd.choice(BENIGN_KERNEL), 6) for _ in range(rnd.randint(1, 3))]
        lines += [(t, text, 3) for t, text in sim.kernel_lines(i, 0, seconds)]
        lines.sort()
        seq = 1000 + rnd.randrange(1000)
        path = out / "kmsg" / f"{topo.node_name(i)}.kmsg"
        with path.open("w") as fh:
            for n, (t, text, level) in enumerate(lines):
                fh.write(_kmsg_record(seq + n, int((BOOT_BEFORE_START_S + t) * 1e6), text, level))
        size += path.stat().st_size
    return size
