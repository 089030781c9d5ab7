"""`trainmedic sim telemetry`: write a cluster's per-card, per-second telemetry (healthy or with one
fault that shows in telemetry) plus kernel logs and truth.json, in the format `agent --replay` reads.

A standalone click command; the lead attaches it under the `sim` group."""

from __future__ import annotations

import time
from pathlib import Path

import click

from trainmedic.cli.output import emit_json, fail

KINDS = ["none", "random", "thermal_runaway", "clock_throttle", "pcie_downgrade", "link_degraded", "link_flap",
         "nvlink_errors", "slow_card", "ecc_dbe"]


@click.command("telemetry")
@click.option("--nodes", type=int, default=16, show_default=True, help="Machines in the cluster.")
@click.option("--cards-per-node", type=int, default=8, show_default=True, help="Cards per machine.")
@click.option("--minutes", type=float, default=10.0, show_default=True, help="Length of the recording.")
@click.option("--fault", type=click.Choice(KINDS), default="none", show_default=True, help="Fault to inject (or none).")
@click.option("--fault-node", type=int, default=None, help="Culprit node index (default: seeded random).")
@click.option("--fault-card", type=int, default=None, help="Culprit card slot (default: seeded random).")
@click.option("--fault-at-s", type=int, default=None, help="Fault start, seconds into the run (default: a third in).")
@click.option("--severity", type=float, default=1.0, show_default=True, help="Fault magnitude (0.3 = subtle).")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--chunk-s", type=int, default=600, show_default=True, help="Seconds per file per node.")
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Output directory.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON summary.")
def telemetry(nodes: int, cards_per_node: int, minutes: float, fault: str, fault_node: int | None, fault_card: int | None,
              fault_at_s: int | None, severity: float, seed: int, chunk_s: int, out: Path, as_json: bool) -> None:
    """Simulate per-card telemetry with an optional fault, and its ground truth."""
    import random

    from trainmedic.sim.telemetry import PEER_VISIBLE, TelemetryFault, TelemetrySim
    from trainmedic.sim.telemetry_io import TelemetryWriteError, plan_fault, write_telemetry
    from trainmedic.sim.topology import Topology, TopologyError

    seconds = round(minutes * 60)
    if seconds < 1:
        fail(f"--minutes {minutes}: need at least one second", code=2)
    if nodes < 1 or cards_per_node < 1:
        fail(f"{nodes} nodes x {cards_per_node} cards: need at least 1 node and 1 card per node", code=2)
    if chunk_s < 1:
        fail("--chunk-s must be >= 1", code=2)
    try:
        topo = Topology.fitted(nodes, cards_per_node, seed=seed)
    except TopologyError as exc:
        fail(str(exc), hint="use --nodes >= 1 and 1..16 --cards-per-node", code=2)
    kind = TelemetryFault(random.Random(seed).choice([*PEER_VISIBLE, TelemetryFault.ECC_DBE])) if fault == "random" else TelemetryFault(fault)
    try:
        faults = plan_fault(topo, kind, seconds, seed, fault_node, fault_card, fault_at_s, severity)
        sim = TelemetrySim(topo, faults, seed=seed)
    except ValueError as exc:
        fail(str(exc), hint=f"--fault-node is 0..{nodes - 1}, --fault-card 0..{cards_per_node - 1}, --fault-at-s inside the run, --severity in (0, 10]", code=2)
    t0 = time.perf_counter()
    try:
        stats = write_telemetry(out, topo, sim, seconds, chunk_s)
    except TelemetryWriteError as exc:
        fail(str(exc), hint="free disk space or pick another --out; truth.json is absent, so the directory is marked incomplete")
    took = time.perf_counter() - t0
    fault_rows = [f.to_dict(topo, sim.start_epoch) for f in faults]
    summary: dict[str, object] = {
        "out": str(out),
        "nodes": nodes,
        "cards_per_node": cards_per_node,
        "seconds": seconds,
        "fault": str(kind),
        "faults": fault_rows,
        "files": stats.files,
        "bytes": stats.bytes,
        "wall_s": round(took, 3),
    }
    if as_json:
        emit_json(summary)
        return
    click.echo(f"wrote {stats.files} files ({stats.bytes / 1e6:.1f} MB) for {nodes} x {cards_per_node} cards, {seconds}s, in {took:.1f}s")
    for f in fault_rows:
        click.echo(f"fault: {f['kind']} on {f['node']} card {f['card']} ({f['bus_id']}) from {f['start_s']}s")
    click.echo(f"replay: trainmedic agent --replay {out}")
