"""One simulated job, decided up front: topology, clocks, step timings, the fault and its culprit, the
rendered fault lines, and the ground truth. Everything a node writer needs, small and picklable.

Built by `make_plan` (called by `sim.job`); read by `sim.fates`, `sim.ranklog` and `sim.kernel`.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import random
from dataclasses import dataclass, field
from typing import Any

from trainmedic.catalog import Catalog, Example, Rule
from trainmedic.model import Component, KnownFault
from trainmedic.sim import timefmt
from trainmedic.sim.faults import LINELESS, FaultChoice, Scenario, resolve
from trainmedic.sim.inject import Rendered, render
from trainmedic.sim.topology import Topology

STEP_LINE_BYTES = 250  # one step's stdout lines (the script's step line + trainmedic.train's line)
STARTUP_BYTES = 3200
EPOCH = calendar.timegm((2026, 11, 20, 0, 0, 0))
LAYOUTS = ("torchrun", "slurm")
KERNEL_FORMATS = ("dmesg", "journal", "mixed")
BACKENDS = ("nccl", "gloo")


class SimInputError(ValueError):
    """Options that cannot make a job (bad sizes, unknown layout, ...); the message says which and why."""


@dataclass(frozen=True, slots=True)
class SimOptions:
    """What `trainmedic sim logs` was asked for."""

    nodes: int = 2304
    cards_per_node: int = 8
    fault: str = "random"
    seed: int = 0
    layout: str = "torchrun"
    kernel_format: str = "mixed"
    backend: str = "nccl"
    timeout_s: float | None = None
    """Collective timeout; default 600 s for NCCL, 1800 s for gloo (the stock values)."""
    max_skew_s: float = 3.0
    rank_log_kb: float = 32.0
    """Approximate size of one rank's stdout log."""
    meta: bool = True
    vendor: str = "nvidia"

    def check(self) -> None:
        """Raise SimInputError on impossible values."""
        if self.layout not in LAYOUTS:
            raise SimInputError(f"layout {self.layout!r}: use one of {', '.join(LAYOUTS)}")
        if self.kernel_format not in KERNEL_FORMATS:
            raise SimInputError(f"kernel format {self.kernel_format!r}: use one of {', '.join(KERNEL_FORMATS)}")
        if self.backend not in BACKENDS:
            raise SimInputError(f"backend {self.backend!r}: use one of {', '.join(BACKENDS)}")
        if self.timeout_s is not None and not 1 <= self.timeout_s <= 86_400:
            raise SimInputError(f"timeout {self.timeout_s} s: use 1 to 86400 seconds")
        if not 0 <= self.max_skew_s <= 600:
            raise SimInputError(f"max skew {self.max_skew_s} s: use 0 to 600 seconds")
        if not 1 <= self.rank_log_kb <= 100_000:
            raise SimInputError(f"rank log size {self.rank_log_kb} KB: use 1 to 100000 KB")
        if self.vendor != "nvidia":
            raise SimInputError(f"vendor {self.vendor!r}: only nvidia jobs are simulated so far")


@dataclass(frozen=True, slots=True)
class Injection:
    """One injected fault: where, when, and the lines it logs (message text, no timestamp prefix)."""

    fault: str
    rule: str | None
    component: str
    rank: int
    at: float
    where: str  # "kernel", "job" or "" for faults without a line
    lines: tuple[str, ...] = ()
    bus_id: str | None = None
    exits: bool = False
    """The culprit's process exits right after its line (a Python/NCCL error), rather than hanging."""
    scope: str = "card"


@dataclass(frozen=True)
class JobPlan:
    """Everything about one job that every node writer must agree on."""

    opts: SimOptions
    topo: Topology
    scenario: Scenario
    category: str
    timeout_s: float
    t_start: float
    """True clock: the attempt's processes start."""
    init_s: float
    step_s: float
    first_step: int
    step_end: tuple[float, ...]
    """True end time of each logged step, first_step onwards."""
    loss: tuple[float, ...]
    injected_step: int
    injections: tuple[Injection, ...]
    slow_factor: float = 1.0
    variant: str = ""
    """Scenario detail: for hangs "stopped" (SIGSTOP-like) or "hung"; for crashes the signal."""
    node_seed: str = ""
    exception: tuple[str, ...] = ()
    """For user_exception: the traceback every rank prints."""
    job_id: int = 0
    master_port: int = 29500
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def world(self) -> int:
        return self.topo.world

    @property
    def last_step(self) -> int:
        return self.first_step + len(self.step_end) - 1

    def step_end_at(self, step: int) -> float:
        return self.step_end[step - self.first_step]

    def skew(self, node: int) -> float:
        """The node's clock minus the true clock (bounded by max_skew_s)."""
        return node_skew(self.node_seed, self.opts.max_skew_s, node)

    def truth(self) -> dict[str, Any]:
        """truth.json as SIM_FORMAT.md specifies (plus a few compatible extra keys)."""
        first = self.injections[0] if self.injections else None
        second = self.injections[1] if len(self.injections) > 1 else None
        scenario_fault, scenario_component = LINELESS.get(self.scenario, (None, None))
        out: dict[str, Any] = {
            "scenario": str(self.scenario),
            "fault": first.fault if first else str(scenario_fault),
            "rule": first.rule if first else None,
            "component": first.component if first else str(scenario_component),
            "culprit": self._culprit(first),
            "injected_at": round(first.at, 6) if first else None,
            "injected_step": self.injected_step,
            "second": None,
            "nodes": self.topo.nodes,
            "cards_per_node": self.topo.cards_per_node,
            "layout": self.opts.layout,
            "seed": self.opts.seed,
            "timeout_s": self.timeout_s,
        }
        if second is not None:
            out["second"] = {
                "fault": second.fault,
                "rule": second.rule,
                "component": second.component,
                "culprit": self._culprit(second),
                "injected_at": round(second.at, 6),
            }
        out.update(
            {
                "culprit_scope": first.scope if first else "job",
                "category": self.category,
                "variant": self.variant,
                "injected_lines": [
                    {"where": i.where, "rank": i.rank, "text": line} for i in self.injections for line in i.lines
                ],
                "backend": self.opts.backend,
                "kernel_format": self.opts.kernel_format,
                "step_s": round(self.step_s, 4),
                "slow_factor": self.slow_factor,
                "max_skew_s": self.opts.max_skew_s,
                "clock_skew_s": {self.topo.node_name(n): round(self.skew(n), 6) for n in range(self.topo.nodes)},
            }
        )
        return out

    def _culprit(self, inj: Injection | None) -> dict[str, Any] | None:
        if inj is None or inj.scope == "job":
            return None
        loc = self.topo.locate(inj.rank)
        card = loc.card
        return {
            "rank": loc.rank,
            "node": loc.node,
            "local_rank": loc.local_rank,
            "card": {"bus_id": card.bus_id, "uuid": card.uuid, "serial": card.serial} if card else None,
        }


def _losses(rng: random.Random, first_step: int, n: int) -> tuple[float, ...]:
    base = 2.9 - 0.6 * min(1.0, first_step / 60_000)
    out = []
    for i in range(n):
        out.append(base - 0.05 * i / max(n, 1) + rng.gauss(0, 0.03))
    return tuple(out)


def _step_ends(rng: random.Random, start: float, step_s: float, n: int, first_step: int,
               slow_from: int | None, slow: float) -> tuple[float, ...]:
    t = start
    out = []
    for i in range(n):
        step = first_step + i
        d = step_s * (1 + rng.gauss(0, 0.015))
        if slow_from is not None and step >= slow_from:
            d *= slow
        if step % 500 == 0 and step != first_step:
            d += rng.uniform(4, 15)  # a checkpoint save blocks this step
        t += d
        out.append(t)
    return tuple(out)


_EXCEPTIONS: tuple[tuple[str, ...], ...] = (
    (
        "Traceback (most recent call last):",
        '  File "/workspace/train.py", line 412, in <module>',
        "    main()",
        '  File "/workspace/train.py", line 388, in main',
        "    batch = next(data_iter)",
        '  File "/workspace/data/loader.py", line 97, in __next__',
        '    tokens = sample["input_ids"]',
        "KeyError: 'input_ids'",
    ),
    (
        "Traceback (most recent call last):",
        '  File "/workspace/train.py", line 412, in <module>',
        "    main()",
        '  File "/workspace/train.py", line 371, in main',
        "    logits = model(batch)",
        '  File "/workspace/model/attention.py", line 154, in forward',
        "    q = q.view(bsz, seqlen, self.n_heads, self.head_dim)",
        "RuntimeError: shape '[1, 8192, 64, 128]' is invalid for input of size 33554432",
    ),
    (
        "Traceback (most recent call last):",
        '  File "/workspace/train.py", line 412, in <module>',
        "    main()",
        '  File "/workspace/train.py", line 402, in main',
        "    evaluate(model, eval_loader, step)",
        '  File "/workspace/eval.py", line 58, in evaluate',
        "    ppl = math.exp(total_loss / n_tokens)",
        "ZeroDivisionError: float division by zero",
    ),
    (
        "Traceback (most recent call last):",
        '  File "/workspace/train.py", line 412, in <module>',
        "    main()",
        '  File "/workspace/train.py", line 395, in main',
        "    ds = load_shard(cfg.data.shards[shard_idx])",
        '  File "/workspace/data/shards.py", line 41, in load_shard',
        "    raise ValueError(f\"shard {path} has {n} tokens, expected a multiple of {seq_len}\")",
        "ValueError: shard /data/tokens/shard-00417.bin has 1048575 tokens, expected a multiple of 8192",
    ),
)


def _root_claims(catalog: Catalog, text: str) -> bool:
    return any(m.rule.role == "root" for m in catalog.match_text(text))


def _pick_culprit(rng: random.Random, topo: Topology, avoid: frozenset[int] | set[int] = frozenset()) -> int:
    while True:
        r = rng.randrange(topo.world)
        if r not in avoid:
            return r


def _injection(rule: Rule, rank: int, at: float, plan_topo: Topology, skew: float, rng: random.Random,
               pid: int) -> Injection:
    where = "kernel" if "kernel" in rule.seen_in else "job"
    loc = plan_topo.locate(rank)
    assert loc.card is not None
    card = loc.card
    example = rng.choice(rule.examples)
    t = at + skew

    def make(ex: Example) -> Rendered:
        return render(rule, ex, where=where, card=card, rank=rank, pid=pid,
                      t_glog=timefmt.glog(t), t_pylog=timefmt.pylog(t), rng=rng)

    rendered = make(example)
    if not rendered.varied:
        # An example whose first line alone does not match (a message the kernel splits over several
        # lines) cannot be injected as one line: take the rule's next example that renders as a match.
        for other in rule.examples:
            candidate = make(other) if other is not example else rendered
            if candidate.varied:
                rendered = candidate
                break
    has_bus = any("bus_id" in p.groupindex for p in rule.patterns)
    scope = "card" if has_bus or where == "job" else "node"
    exits = where == "job"
    return Injection(rule.fault, rule.id, str(rule.component), rank, at, where, (rendered.text,),
                     rendered.bus_id, exits, scope)


def rank_pid(plan_seed: str, rank: int) -> int:
    """The rank's process id (stable per job, distinct on a node)."""
    return 10_000 + mix(plan_seed, rank) % 3_000_000


@functools.lru_cache(maxsize=64)
def hash_int(text: str) -> int:
    """A stable integer for `text` (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def mix(seed: str, n: int) -> int:
    """A cheap stable pseudo-random integer for (seed, n): one multiply-xorshift round."""
    x = (hash_int(seed) ^ ((n + 1) * 0x9E3779B97F4A7C15)) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 29)


def make_plan(opts: SimOptions, catalog: Catalog, choice: FaultChoice | None = None) -> JobPlan:
    """Decide the whole job from the options (and the seed): same options, same plan."""
    opts.check()
    topo = Topology.fitted(opts.nodes, opts.cards_per_node, seed=opts.seed)
    key = f"trainmedic-sim:{opts.seed}:{opts.nodes}:{opts.cards_per_node}:{opts.fault}:{opts.layout}:{opts.rank_log_kb}"
    rng = random.Random(key)
    if choice is None:
        choice = resolve(opts.fault, catalog, rng, opts.vendor)
    scenario = choice.scenario
    timeout_s = float(opts.timeout_s if opts.timeout_s is not None else (600 if opts.backend == "nccl" else 1800))
    t_start = EPOCH + rng.uniform(0, 7 * 86400)
    init_s = rng.uniform(20, 40) + topo.nodes * 0.02
    step_s = rng.uniform(2.5, 9.0)
    first_step = rng.randrange(0, 80) * 500
    n_steps = max(8, int((opts.rank_log_kb * 1024 - STARTUP_BYTES) / STEP_LINE_BYTES))
    running = scenario in (Scenario.STRAGGLER, Scenario.NAN)
    n_pre = max(4, int(n_steps * rng.uniform(0.7, 0.85))) if running else n_steps
    injected_step = first_step + n_pre
    slow = rng.uniform(1.3, 3.0) if scenario is Scenario.STRAGGLER else 1.0
    total = n_steps if running else n_pre
    step_end = _step_ends(rng, t_start + init_s, step_s, total, first_step,
                          injected_step if scenario is Scenario.STRAGGLER else None, slow)
    losses = _losses(rng, first_step, total)
    node_seed = f"{key}:nodes"
    prev_end = step_end[n_pre - 1]
    # a slow or NaN step starts when the last healthy one ends; other faults strike early in a step
    at = prev_end if running else prev_end + rng.uniform(0.05, 0.45) * step_s
    plan_args: dict[str, Any] = {}
    injections: list[Injection] = []
    variant = ""
    exception: tuple[str, ...] = ()

    def skew_of(rank: int) -> float:
        return node_skew(node_seed, opts.max_skew_s, rank // topo.cards_per_node)

    if scenario in (Scenario.LINE_FAULT, Scenario.DOUBLE_FAULT):
        assert choice.rule is not None
        c = _pick_culprit(rng, topo)
        injections.append(_injection(choice.rule, c, at, topo, skew_of(c), rng, rank_pid(node_seed, c)))
        if scenario is Scenario.DOUBLE_FAULT:
            assert choice.second is not None
            avoid = {*topo.tp_group(c), *topo.pp_group(c)}
            avoid |= set(range(c - c % topo.cards_per_node, c - c % topo.cards_per_node + topo.cards_per_node))
            c2 = _pick_culprit(rng, topo, avoid) if topo.nodes > 1 else (c + 1) % topo.world
            at2 = at + rng.uniform(0.0, 5.0)
            injections.append(_injection(choice.second, c2, at2, topo, skew_of(c2), rng, rank_pid(node_seed, c2)))
    elif scenario is Scenario.USER_EXCEPTION:
        for _ in range(len(_EXCEPTIONS)):
            exception = rng.choice(_EXCEPTIONS)
            if not _root_claims(catalog, exception[-1]) or _root_claims_only_user(catalog, exception[-1]):
                break
        injections.append(Injection(str(KnownFault.USER_EXCEPTION), None, str(Component.USER), 0, at, "", (),
                                    None, True, "job"))
    else:
        fault, component = LINELESS[scenario]
        c = _pick_culprit(rng, topo)
        scope = "node" if scenario is Scenario.NODE_LOST else "card"
        if scenario is Scenario.SILENT_HANG:
            variant = rng.choice(("stopped", "hung"))
        elif scenario is Scenario.CRASH_NO_LINE:
            variant = rng.choice(("SIGKILL", "SIGKILL", "SIGSEGV", "SIGBUS"))
        injections.append(Injection(str(fault), None, str(component), c, at, "", (), None,
                                    scenario is Scenario.CRASH_NO_LINE, scope))
    return JobPlan(
        opts=opts, topo=topo, scenario=scenario, category=choice.category, timeout_s=timeout_s,
        t_start=t_start, init_s=init_s, step_s=step_s, first_step=first_step, step_end=step_end, loss=losses,
        injected_step=injected_step, injections=tuple(injections), slow_factor=round(slow, 4), variant=variant,
        node_seed=node_seed, exception=exception, job_id=100_000 + rng.randrange(900_000),
        master_port=29500, extra=plan_args,
    )


def _root_claims_only_user(catalog: Catalog, text: str) -> bool:
    roots = [m for m in catalog.match_text(text) if m.rule.role == "root"]
    return bool(roots) and all(m.rule.component in (Component.USER, Component.SOFTWARE) for m in roots)


def node_skew(node_seed: str, max_skew_s: float, node: int) -> float:
    """A node's clock minus the true clock, uniform in [-max_skew_s, max_skew_s], stable per job."""
    if not max_skew_s:
        return 0.0
    return random.Random(f"{node_seed}:skew:{node}").uniform(-max_skew_s, max_skew_s)
