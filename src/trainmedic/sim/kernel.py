"""A node's kernel log (`dmesg -T` or `journalctl -k -o short-iso`): boot lines, benign runtime lines,
the injected fault on the culprit node (with the driver's "GPU at PCI" preamble before an Xid), and
Xid 45 cleanup lines when the launcher kills processes that still had work on their cards.

Called by `sim.job` per node.
"""

from __future__ import annotations

import random

from trainmedic.sim import timefmt
from trainmedic.sim.fates import End, NodeEnd
from trainmedic.sim.noise import KERNEL_BOOT, KERNEL_MASTER, KERNEL_RUNTIME, KERNEL_TEARDOWN, XID45
from trainmedic.sim.plan import JobPlan, rank_pid
from trainmedic.sim.topology import HGX_BUS_IDS

_NICS = ("0c", "12", "45", "4b", "8a", "90", "c2", "c8")


def kernel_format(plan: JobPlan, node: int) -> str:
    """dmesg or journal for this node (mixed: about half each, stable per node)."""
    fmt = plan.opts.kernel_format
    if fmt != "mixed":
        return fmt
    return "dmesg" if random.Random(f"{plan.node_seed}:kfmt:{node}").random() < 0.5 else "journal"


def kernel_bus(bus_id: str) -> str:
    """00000000:18:00.0 -> 0000:18:00 (the form NVRM uses in Xid lines)."""
    domain, bus, rest = bus_id.split(":")
    return f"{int(domain, 16):04x}:{bus.lower()}:{rest.split('.')[0]}"


def kernel_log(plan: JobPlan, node: int, end: NodeEnd, skew: float, safe: frozenset[str]) -> str:
    """The node's kernel log text, lines in time order on the node's clock."""
    rng = random.Random(f"{plan.node_seed}:kernel:{node}")
    topo = plan.topo
    host = topo.node_name(node)
    events: list[tuple[float, str]] = []
    boot = plan.t_start - rng.uniform(1, 40) * 86400
    t = boot
    for key, template in KERNEL_BOOT.items():
        if f"boot:{key}" not in safe:
            continue
        reps = {"mlx_fw": 2, "mlx_bw": 2, "ib_up": 4, "persist": topo.cards_per_node}.get(key, 1)
        for i in range(reps):
            t += rng.uniform(0.001, 0.8)
            bus = HGX_BUS_IDS[i % len(HGX_BUS_IDS)].split(":")[1].lower()
            events.append((t, template.format(uuid=_uuid(rng), nic=_NICS[i % len(_NICS)], port=i, bus=bus)))
    lost_at = next((f.at for f in end.fates if f.end is End.LOST), None)
    stop = lost_at if lost_at is not None else max(plan.step_end[-1], max(
        (f.exit_at or f.at) for f in end.fates)) + 60
    # benign lines now and then over the days since boot (a dozen at most: real nodes log few)
    span = stop - boot
    for _ in range(min(12, int(span / 3000))):
        key = rng.choice(sorted(KERNEL_RUNTIME))
        if f"run:{key}" in safe:
            at = boot + rng.random() * span
            events.append((at, _runtime(key, at, rng)))
    start = plan.t_start + rng.uniform(2, 8)
    if "run:nvswitch" in safe:
        for sw in range(4):
            for _ in range(rng.randint(2, 5)):
                events.append((start + rng.uniform(0, 0.01), KERNEL_RUNTIME["nvswitch"].format(sw=sw)))
    if node == 0 and "master:syn" in safe and topo.world >= 512:
        events.append((plan.t_start + rng.uniform(1, 3), KERNEL_MASTER["syn"].format(port=plan.master_port)))
    for inj in plan.injections:
        if inj.where != "kernel" or inj.rank // topo.cards_per_node != node:
            continue
        card = topo.card(node, inj.rank % topo.cards_per_node)
        if any("NVRM: Xid" in line for line in inj.lines) and card.bus_id:
            events.append((inj.at - 0.000008, f"NVRM: GPU at PCI:{kernel_bus(card.bus_id)}: {card.uuid}"))
            events.append((inj.at - 0.000004, f"NVRM: GPU Board Serial Number: {card.serial}"))
        for line in inj.lines:
            events.append((inj.at, line))
    events += _cleanup(plan, node, end, rng, safe)
    if "down:peermem" in safe and end.kill_at is not None and rng.random() < 0.3:
        for _ in range(rng.randint(1, 6)):
            events.append((end.kill_at + rng.uniform(0.1, 2.0), KERNEL_TEARDOWN["peermem"]))
    if lost_at is not None:
        events = [e for e in events if e[0] < lost_at]
    events.sort(key=lambda e: e[0])
    fmt = kernel_format(plan, node)
    if fmt == "dmesg":
        return "".join(f"{timefmt.dmesg(at + skew)} {text}\n" for at, text in events)
    return "".join(f"{timefmt.journal(at + skew)} {host} kernel: {text}\n" for at, text in events)


def _cleanup(plan: JobPlan, node: int, end: NodeEnd, rng: random.Random, safe: frozenset[str]) -> list[tuple[float, str]]:
    """Xid 45 when killed processes still had work queued: a flood on a culprit card, sparse elsewhere."""
    if "xid:45" not in safe:
        return []
    topo = plan.topo
    culprits = {i.rank for i in plan.injections if i.where == "kernel"}
    out = []
    cards = [topo.card(node, i) for i in range(topo.cards_per_node)]
    for f in end.fates:
        if f.exit_at is None or f.exit_code not in (-6, -9, -15, -7, -11):
            continue
        card = cards[f.rank % topo.cards_per_node]
        if not card.bus_id:
            continue
        n = rng.randint(8, 30) if f.rank in culprits else (1 if rng.random() < 0.3 else 0)
        pid = rank_pid(plan.node_seed, f.rank)
        for i in range(n):
            out.append((f.exit_at + 0.001 * i, XID45.format(bus=kernel_bus(card.bus_id), pid=pid, ch=8 + 8 * (i % 12))))
    return out


def _runtime(key: str, at: float, rng: random.Random) -> str:
    return KERNEL_RUNTIME[key].format(
        sw=rng.randrange(4), cali=f"{rng.getrandbits(40):010x}", epoch=int(at), ms=rng.randrange(1000),
        n=rng.randrange(100, 9000), pid=rng.randrange(1000, 90000),
    )


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
