"""Cluster topology for the simulator: nodes x cards with stable identities, racks and leaf switches,
and the parallel layout (tensor, pipeline, data parallel groups) over the ranks.

Used by every simulator module (logs, telemetry, suite) so all of them name the same cards.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cached_property

from trainmedic.model import Card, RankLocation

# PCI bus ids of the eight GPUs in a typical 8-card HGX server (as nvidia-smi prints them).
HGX_BUS_IDS = (
    "00000000:18:00.0",
    "00000000:2A:00.0",
    "00000000:3A:00.0",
    "00000000:5D:00.0",
    "00000000:9A:00.0",
    "00000000:AB:00.0",
    "00000000:BA:00.0",
    "00000000:DB:00.0",
)


class TopologyError(ValueError):
    """An impossible topology (zero nodes, groups that do not divide the world, ...)."""


@dataclass(frozen=True)
class Topology:
    """`nodes` servers x `cards_per_node` cards; ranks are laid out node-major (rank = node*K + local).

    Parallel layout: tensor parallel inside a node (tp consecutive ranks), pipeline stages across
    nodes (pp), data parallel over the rest (dp = world / (tp*pp)).
    """

    nodes: int = 2304
    cards_per_node: int = 8
    nodes_per_rack: int = 16
    racks_per_leaf: int = 2
    tp: int = 8
    pp: int = 8
    seed: int = 0
    vendor: str = "nvidia"
    model: str = "H100 80GB HBM3"

    def __post_init__(self) -> None:
        if self.nodes < 1 or self.cards_per_node < 1:
            raise TopologyError(f"need at least 1 node and 1 card per node (got {self.nodes} x {self.cards_per_node})")
        if self.cards_per_node > 16:
            raise TopologyError(f"{self.cards_per_node} cards per node: at most 16 are supported")
        if self.nodes > 100_000:
            raise TopologyError(f"{self.nodes} nodes: at most 100,000 are supported")
        if self.tp < 1 or self.pp < 1 or self.world % (self.tp * self.pp):
            raise TopologyError(
                f"tp={self.tp} x pp={self.pp} does not divide the world size {self.world}; "
                "pick group sizes whose product divides nodes x cards_per_node"
            )

    @classmethod
    def fitted(cls, nodes: int, cards_per_node: int, seed: int = 0, **kw: object) -> Topology:
        """A topology whose tp/pp shrink to fit small jobs (tp <= cards per node, pp <= nodes)."""
        if nodes < 1 or cards_per_node < 1:
            raise TopologyError(f"need at least 1 node and 1 card per node (got {nodes} x {cards_per_node})")
        tp = min(int(kw.pop("tp", 8)), cards_per_node)  # type: ignore[call-overload]
        while cards_per_node % tp:
            tp -= 1
        pp = min(int(kw.pop("pp", 8)), nodes)  # type: ignore[call-overload]
        while nodes % pp:
            pp -= 1
        return cls(nodes=nodes, cards_per_node=cards_per_node, tp=tp, pp=pp, seed=seed, **kw)  # type: ignore[arg-type]

    @property
    def world(self) -> int:
        return self.nodes * self.cards_per_node

    @property
    def dp(self) -> int:
        return self.world // (self.tp * self.pp)

    def node_name(self, node: int) -> str:
        width = max(4, len(str(self.nodes - 1)))
        return f"node{node:0{width}d}"

    def rack_of(self, node: int) -> int:
        return node // self.nodes_per_rack

    def leaf_of(self, node: int) -> int:
        return self.rack_of(node) // self.racks_per_leaf

    def bus_id(self, local: int) -> str:
        if local < len(HGX_BUS_IDS) and self.cards_per_node <= len(HGX_BUS_IDS):
            return HGX_BUS_IDS[local]
        return f"00000000:{0x10 + local * 0x10:02X}:00.0"

    @cached_property
    def _salt(self) -> str:
        return f"{self.seed}:{self.nodes}:{self.cards_per_node}"

    def card(self, node: int, local: int) -> Card:
        """The card in slot `local` of `node`, with a stable bus id, UUID and serial."""
        h = hashlib.blake2b(f"{self._salt}:{node}:{local}".encode(), digest_size=16).hexdigest()
        uuid = f"GPU-{h[0:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:32]}"
        serial = f"1{int(h[:10], 16) % 10**12:012d}"
        return Card(
            node=self.node_name(node),
            index=local,
            bus_id=self.bus_id(local),
            uuid=uuid,
            serial=serial,
            vendor=self.vendor,
            model=self.model,
        )

    def locate(self, rank: int) -> RankLocation:
        """rank -> node -> local rank -> card."""
        if not 0 <= rank < self.world:
            raise TopologyError(f"rank {rank} outside world of {self.world}")
        node, local = divmod(rank, self.cards_per_node)
        return RankLocation(rank=rank, node=self.node_name(node), local_rank=local, card=self.card(node, local))

    def tp_group(self, rank: int) -> range:
        start = rank - rank % self.tp
        return range(start, start + self.tp)

    def pp_group(self, rank: int) -> list[int]:
        """Ranks holding the other pipeline stages of the same (tp slot, dp replica)."""
        stage_size = self.world // self.pp
        base = rank % stage_size
        return [base + s * stage_size for s in range(self.pp)]

    def dp_group(self, rank: int) -> list[int]:
        """Ranks with the same tp slot and pipeline stage: the gradient all-reduce group."""
        stage_size = self.world // self.pp
        stage = rank // stage_size
        tp_slot = rank % self.tp
        first = stage * stage_size + tp_slot
        return list(range(first, (stage + 1) * stage_size, self.tp))
