"""From raw scans to one view per rank and per node on a shared clock: who each log belongs to
(rank, node, local rank, card), how far it got, and what it said, with every time skew-corrected.

Built by the judge from `scan.ScanResult`.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from trainmedic.diagnose.clock import step_offsets
from trainmedic.diagnose.scan import RankResult, ScanResult
from trainmedic.localize.cardmap import CardMap
from trainmedic.logs.kernel import KernelScan
from trainmedic.logs.layout import FileRole, Kind
from trainmedic.logs.ranklog import Hit


@dataclass(slots=True)
class RankView:
    """One rank: identity, progress and findings, times on the shared clock."""

    rank: int
    node: str
    local_rank: int
    result: RankResult
    offset: float = 0.0

    @property
    def scan(self):  # type: ignore[no-untyped-def]
        return self.result.scan

    def t(self, at: float | None) -> float | None:
        return None if at is None else at - self.offset

    @property
    def last_step(self) -> int | None:
        return self.scan.last_step

    @property
    def last_progress_at(self) -> float | None:
        return self.t(self.scan.last_step_at)

    @property
    def end_at(self) -> float | None:
        return self.t(self.scan.end_at)

    @property
    def hits(self) -> list[Hit]:
        return self.scan.hits  # type: ignore[no-any-return]


@dataclass(slots=True)
class NodeView:
    name: str
    offset: float = 0.0
    ranks: list[int] = field(default_factory=list)
    kernels: list[KernelScan] = field(default_factory=list)


@dataclass(slots=True)
class JobView:
    ranks: dict[int, RankView] = field(default_factory=dict)
    nodes: dict[str, NodeView] = field(default_factory=dict)
    cards: CardMap = field(default_factory=CardMap)
    attempt: int | None = None
    notes: list[str] = field(default_factory=list)
    unplaced: int = 0


def build(scan: ScanResult) -> JobView:
    """Resolve identities, pick the attempt to judge, estimate clock skew and build the views."""
    job = JobView()
    for inv in scan.inventories:
        if inv.kind is Kind.NVIDIA_SMI and inv.node:
            job.cards.add_nvidia_smi_csv(inv.node, inv.text)
        elif inv.kind is Kind.NPU_SMI and inv.node:
            job.cards.add_npu_smi(inv.node, inv.text)
        elif inv.kind is Kind.RANKMAP:
            job.cards.add_rank_map(inv.text)
    results = _pick_attempt(job, scan.ranks)
    placed: list[tuple[int | None, str, int | None, RankResult]] = []
    per_node_count: dict[str, int] = defaultdict(int)
    for rr in results:
        rank, node, local = _identity(rr)
        placed.append((rank, node, local, rr))
        per_node_count[node] += 1
    k = max(per_node_count.values(), default=1)
    node_order = {n: i for i, n in enumerate(sorted(per_node_count))}
    steps: dict[str, list[list[tuple[int, float | None]]]] = defaultdict(list)
    for rank, node, local, rr in placed:
        if rank is None:
            if local is None:
                job.unplaced += 1
                continue
            rank = node_order[node] * k + local  # last resort: node-major layout
        if local is None:
            local = rank % k
        if rank in job.ranks:
            # Two logs claim one rank (stdout of one, stderr of another): keep both's findings.
            job.ranks[rank].result.scan.hits.extend(rr.scan.hits)
            continue
        job.ranks[rank] = RankView(rank, node, local, rr)
        _node(job, node).ranks.append(rank)
        steps[node].append(rr.scan.steps)
    for role, ks in scan.kernels:
        _node(job, ks.host or role.node or _kernel_node(role)).kernels.append(ks)
    offsets = step_offsets(steps)
    for name, nv in job.nodes.items():
        nv.offset = offsets.get(name, 0.0)
        for r in nv.ranks:
            job.ranks[r].offset = nv.offset
    return job


def _node(job: JobView, name: str) -> NodeView:
    nv = job.nodes.get(name)
    if nv is None:
        nv = job.nodes[name] = NodeView(name)
    return nv


def _kernel_node(role: FileRole) -> str:
    return role.path.rsplit("/", 1)[-1].split(".")[0]


def _identity(rr: RankResult) -> tuple[int | None, str, int | None]:
    ident = rr.scan.identity
    roles = rr.unit.roles
    rank: int | None = None
    for key in ("rank", "nccl_rank", "prefix_rank"):
        if key in ident:
            rank = int(ident[key])
            break
    if rank is None:
        rank = next((r.rank for r in roles if r.rank is not None), None)
    local = int(ident["local_rank"]) if "local_rank" in ident else None
    if local is None:
        local = next((r.local_rank for r in roles if r.local_rank is not None), None)
    node = ident.get("host") or ident.get("nccl_host")
    if node is None:
        node = next((r.node for r in roles if r.node), None)
    if node is None:
        node = rr.unit.group.split("#")[0] or "node?"
    return rank, node, local


def _attempt(rr: RankResult) -> int | None:
    for role in rr.unit.roles:
        if role.attempt is not None:
            return role.attempt
    return None


def _pick_attempt(job: JobView, ranks: list[RankResult]) -> list[RankResult]:
    """The latest torchrun attempt in which training made progress (earlier ones are history)."""
    attempts: dict[int | None, list[RankResult]] = defaultdict(list)
    for rr in ranks:
        attempts[_attempt(rr)].append(rr)
    if len(attempts) <= 1:
        job.attempt = next(iter(attempts), None)
        return ranks
    ordered = sorted(attempts, key=lambda a: -1 if a is None else a, reverse=True)
    for att in ordered:
        if any(rr.scan.last_step is not None for rr in attempts[att]):
            job.attempt = att
            if att != ordered[0]:
                job.notes.append(
                    f"attempt {ordered[0]} made no training progress (restart fallout); judged attempt {att}"
                )
            return attempts[att] + attempts.get(None, [])
    job.attempt = ordered[0]
    return attempts[ordered[0]]
