"""How each rank of a simulated job ends, on the true clock: the culprit's fault, the cascade on the
victims (direct peers see the dead process at once, the culprit's tp/pp/dp groups block first and the
rest later, each times out `timeout_s` after it blocked), and the launcher killing what is left.

Called per node by the writers (`sim.ranklog`, `sim.kernel`); deterministic from the plan.
"""

from __future__ import annotations

import enum
import random
import re
from dataclasses import dataclass, field

from trainmedic.sim.faults import Scenario
from trainmedic.sim.plan import JobPlan


class End(enum.StrEnum):
    """The last thing a rank does."""

    RUNNING = "running"  # still training when the logs were collected
    TIMEOUT = "timeout"  # collective watchdog timeout, then abort
    REMOTE_ERROR = "remote_error"  # saw its peer's process die, then abort
    KILLED = "killed"  # SIGTERM (or SIGKILL) from the launcher, no line
    FAULT_LINE = "fault_line"  # the culprit: logged the fault's line, then exited
    SILENT = "silent"  # the culprit: stopped making progress, logged nothing
    SIGNAL = "signal"  # the culprit: killed by a signal, no line
    LOST = "lost"  # its node vanished
    EXCEPTION = "exception"  # user code raised on every rank


@dataclass(frozen=True, slots=True)
class Fate:
    """One rank's end. `at` is when its end lines are logged (true clock)."""

    rank: int
    end: End
    at: float
    exit_code: int | None = None
    exit_at: float | None = None
    pg: int = 0
    """Process group of the collective it was blocked in (1 tp, 2 pp, 3 dp) for timeouts."""
    blocked_at: float | None = None
    peer: int | None = None
    """For remote errors: the rank whose process died."""
    stuck: bool = False
    """A silent culprit that ignores SIGTERM (stopped process): the launcher needs SIGKILL 30 s later."""


@dataclass(frozen=True, slots=True)
class NodeEnd:
    """A node's ranks' fates and its launcher's reaction."""

    fates: tuple[Fate, ...]
    kill_at: float | None = None
    """When the launcher sent SIGTERM to the rest (None: never)."""
    first: Fate | None = None
    """The first local process to exit (what torchelastic reports as the root cause)."""
    failures: tuple[Fate, ...] = field(default=())


_SIGNAL_CODES = {"SIGKILL": -9, "SIGSEGV": -11, "SIGBUS": -7, "SIGABRT": -6}


def _natural(plan: JobPlan, rank: int, rng: random.Random, node_frac: float) -> Fate:
    """The rank's end if nobody killed it first.

    `node_frac`: how far into the step this node's ranks reach their blocking collective; ranks of a
    node run in lockstep through their tensor-parallel collectives, so they block within milliseconds.
    """
    topo = plan.topo
    sc = plan.scenario
    if sc in (Scenario.STRAGGLER, Scenario.NAN):
        return Fate(rank, End.RUNNING, plan.step_end[-1])
    nccl = plan.opts.backend == "nccl"
    abort = -6 if nccl else 1
    if sc is Scenario.USER_EXCEPTION:
        at = plan.injections[0].at + rng.uniform(0.0, 0.3)
        return Fate(rank, End.EXCEPTION, at, 1, at + rng.uniform(0.2, 0.8))
    first = plan.injections[0]
    for inj in plan.injections:
        if rank == inj.rank and sc is not Scenario.NODE_LOST:
            if inj.where == "job" and inj.exits:
                code = 1 if _pythonic(inj.lines[0]) else -6
                return Fate(rank, End.FAULT_LINE, inj.at, code, inj.at + rng.uniform(0.1, 1.0))
            if inj.where == "kernel" or sc is Scenario.SILENT_HANG:
                return Fate(rank, End.SILENT, inj.at, stuck=plan.variant == "stopped" or inj.where == "kernel")
            if sc is Scenario.CRASH_NO_LINE:
                return Fate(rank, End.SIGNAL, inj.at, _SIGNAL_CODES.get(plan.variant, -9), inj.at)
    c, t0 = first.rank, first.at
    if sc is Scenario.NODE_LOST and rank // topo.cards_per_node == c // topo.cards_per_node:
        return Fate(rank, End.LOST, t0)
    step = plan.step_s
    t_prev = plan.step_end[-1]
    exits_at = _culprit_exit(plan)
    direct = rank in topo.tp_group(c) or rank in topo.pp_group(c)
    if exits_at is not None and direct:
        at = exits_at + rng.uniform(0.02, 1.5)
        return Fate(rank, End.REMOTE_ERROR, at, abort, at + rng.uniform(0.3, 1.5), peer=c)
    if rank in topo.tp_group(c):
        pg, blocked = 1, t0 + 0.01 + rng.uniform(0.0, 0.02)
    elif rank in topo.pp_group(c):
        pg, blocked = 2, t0 + 0.3 + rng.uniform(0.05, 0.3) * step
    elif rank in topo.dp_group(c):
        pg, blocked = 3, max(t_prev + rng.uniform(0.76, 0.84) * step, t0 + 0.3)
    else:
        pg, blocked = 3, max(t_prev + node_frac * step + rng.uniform(0.0, 0.02), t0 + 0.35)
    # the watchdog checks every 100 ms; aborting (and dumping core) takes a moment more
    at = blocked + plan.timeout_s + rng.uniform(0.0, 0.1)
    return Fate(rank, End.TIMEOUT, at, abort, at + rng.uniform(0.3, 1.5), pg=pg, blocked_at=blocked)


def _culprit_exit(plan: JobPlan) -> float | None:
    """When the first culprit's process dies (peers notice at once), or None if it never does."""
    first = plan.injections[0]
    if plan.scenario is Scenario.CRASH_NO_LINE or (first.where == "job" and first.exits):
        return first.at
    return None


_EXC = re.compile(r"^[A-Za-z_][\w.]*(?:Error|Exception|Interrupt)\b:?")


def is_exception_line(line: str) -> bool:
    """True for the last line of a Python traceback ("RuntimeError: ...", "torch.OutOfMemoryError: ...")."""
    text = line.split("]: ", 1)[-1] if line.startswith("[rank") else line
    return _EXC.match(text.strip()) is not None


def _pythonic(line: str) -> bool:
    return is_exception_line(line)


def node_rng(plan: JobPlan, node: int) -> random.Random:
    return random.Random(f"{plan.node_seed}:fate:{node}")


def slurm_kill_at(plan: JobPlan) -> float | None:
    """With srun --kill-on-bad-exit, when srun terminates every remaining task (first exit + a moment)."""
    if plan.scenario in (Scenario.STRAGGLER, Scenario.NAN):
        return None
    topo = plan.topo
    nodes: set[int] = set()
    for inj in plan.injections:
        nodes.add(inj.rank // topo.cards_per_node)
        nodes.update(r // topo.cards_per_node for r in topo.pp_group(inj.rank))
    if plan.scenario is Scenario.USER_EXCEPTION:
        nodes = set(range(min(topo.nodes, 4)))
    first_exit = min(
        (f.exit_at for n in sorted(nodes) for f in _natural_node(plan, n) if f.exit_at is not None),
        default=None,
    )
    if first_exit is None:
        return None
    return first_exit + random.Random(f"{plan.node_seed}:srun").uniform(0.5, 2.0)


def _natural_node(plan: JobPlan, node: int) -> list[Fate]:
    rng = node_rng(plan, node)
    frac = rng.uniform(0.85, 0.98)
    k = plan.topo.cards_per_node
    return [_natural(plan, node * k + lr, rng, frac) for lr in range(k)]


def node_end(plan: JobPlan, node: int, global_kill: float | None = None) -> NodeEnd:
    """Every local rank's fate after the launcher (torchelastic per node, or srun for the whole job) acted."""
    natural = _natural_node(plan, node)
    rng = random.Random(f"{plan.node_seed}:agent:{node}")
    exits = sorted((f for f in natural if f.exit_at is not None), key=lambda f: (f.exit_at or 0.0, f.rank))
    if plan.opts.layout == "slurm":
        kill_at = global_kill
    else:
        # torchrun's monitor loop polls its workers every 0.1 s
        kill_at = (exits[0].exit_at or 0.0) + rng.uniform(0.02, 0.12) if exits else None
    if kill_at is None:
        return NodeEnd(tuple(natural))
    out = []
    for f in natural:
        if f.end is End.LOST or (f.exit_at is not None and f.exit_at <= kill_at):
            out.append(f)
        elif f.at < kill_at and f.end is not End.SILENT and f.end is not End.RUNNING:
            out.append(Fate(f.rank, f.end, f.at, -15, kill_at, f.pg, f.blocked_at, f.peer))
        elif f.stuck:
            out.append(Fate(f.rank, End.SILENT, f.at, -9, kill_at + 30.0, stuck=True))
        elif f.end is End.SILENT:
            out.append(Fate(f.rank, End.SILENT, f.at, -15, kill_at))
        else:
            out.append(Fate(f.rank, End.KILLED, kill_at, -15, kill_at))
    if all(f.end is End.LOST for f in out):
        return NodeEnd(tuple(out))
    failed = sorted((f for f in out if f.exit_at is not None and f.exit_code not in (-15,)),
                    key=lambda f: (f.exit_at or 0.0, f.rank))
    first = exits[0] if exits else None
    return NodeEnd(tuple(out), kill_at, first, tuple(failed))
