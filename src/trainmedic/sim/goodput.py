"""Goodput what-if: a Monte Carlo of failures at published rates over a long synchronous job, the
closed-form Daly renewal model it must agree with, and the optimal checkpoint interval (Young/Daly).

Model (published-results.md §8-§9): failures arrive as a Poisson process at rate N_nodes x r_f; the
job computes tau seconds then blocks delta seconds writing a checkpoint; a failure loses the work since
the last checkpoint and costs D = detect + localize + recover seconds of downtime, and a failure during
the downtime starts it again. ETTR = useful compute time / wall time. Used by `trainmedic sim goodput`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Any

from trainmedic.sim.faults import LLAMA3_MIX

# Failures per 1,000 node-days (published-results.md §9).
RATES = {
    "llama3": 3.79,  # Llama 3 405B, 419 unexpected interruptions / 54 d / 2,048 nodes
    "llama3-all": 4.21,  # the same, all 466 interruptions
    "rsc1": 6.50,  # Meta RSC-1 (Kokolis et al.)
    "rsc2": 2.34,  # Meta RSC-2
    "ft-hsdp": 2.3,  # Meta FT-HSDP, 2.3 per 1,000 servers per day
}
ORIGIN_LOCALIZE_S = 7 * 86400.0
CARDS_PER_NODE = 8


class GoodputInputError(ValueError):
    """Impossible goodput inputs (negative times, zero cards, ...)."""


@dataclass(frozen=True, slots=True)
class Policy:
    """One way of running the job: how long a failure costs and how often it checkpoints."""

    name: str
    detect_s: float
    localize_s: float
    recover_s: float
    ckpt_interval_s: float | None
    """Compute time between checkpoints; None: no checkpoints (every failure restarts from zero)."""
    ckpt_write_s: float = 0.0

    @property
    def downtime_s(self) -> float:
        return self.detect_s + self.localize_s + self.recover_s

    def check(self) -> None:
        for name in ("detect_s", "localize_s", "recover_s", "ckpt_write_s"):
            if getattr(self, name) < 0 or not math.isfinite(getattr(self, name)):
                raise GoodputInputError(f"{self.name}: {name} must be a finite number >= 0")
        if self.ckpt_interval_s is not None and not self.ckpt_interval_s > 0:
            raise GoodputInputError(f"{self.name}: checkpoint interval must be > 0 seconds")


@dataclass
class Outcome:
    """A policy's Monte Carlo result, with the closed form beside it."""

    policy: Policy
    ettr: float
    ettr_closed_form: float | None
    failures_per_run: float
    hours: dict[str, float]
    """Hours of wall time per run: useful, checkpoint, rollback (lost work), downtime."""
    by_cause: dict[str, float] = field(default_factory=dict)
    """Hours lost (rollback + downtime) per failure category, per run."""

    def to_dict(self, cards: int) -> dict[str, Any]:
        p = self.policy
        return {
            "name": p.name,
            "detect_s": p.detect_s, "localize_s": p.localize_s, "recover_s": p.recover_s,
            "downtime_s": p.downtime_s, "ckpt_interval_s": p.ckpt_interval_s, "ckpt_write_s": p.ckpt_write_s,
            "ettr": round(self.ettr, 5),
            "ettr_closed_form": None if self.ettr_closed_form is None else round(self.ettr_closed_form, 5),
            "goodput_card_hours": round(self.hours["useful"] * cards, 1),
            "failures": round(self.failures_per_run, 2),
            "hours": {k: round(v, 3) for k, v in self.hours.items()},
            "hours_lost_by_cause": {k: round(v, 3) for k, v in sorted(self.by_cause.items(), key=lambda kv: -kv[1])},
        }


def mtbf_s(cards: int, rate_per_1000_node_days: float) -> float:
    """Job MTBF in seconds: independent node failures at r_f per node-day."""
    nodes = max(1, math.ceil(cards / CARDS_PER_NODE))
    return 86400.0 * 1000.0 / (nodes * rate_per_1000_node_days)


def closed_form_ettr(m: float, policy: Policy) -> float | None:
    """Daly's exact renewal model: ETTR = tau / (M e^{D/M} (e^{(tau+delta)/M} - 1)). None without checkpoints."""
    tau = policy.ckpt_interval_s
    if tau is None:
        return None
    d, delta = policy.downtime_s, policy.ckpt_write_s
    exponent = d / m
    if exponent > 700 or (tau + delta) / m > 700:
        return 0.0
    return tau / (m * math.exp(exponent) * math.expm1((tau + delta) / m))


def young_s(m: float, ckpt_write_s: float) -> float:
    """Young (1974): tau* = sqrt(2 delta M)."""
    return math.sqrt(2 * ckpt_write_s * m)


def daly_s(m: float, ckpt_write_s: float, downtime_s: float) -> float:
    """Daly (2006) first order: tau* = sqrt(2 delta (M + D)) - delta (Young's when delta is large vs M)."""
    if ckpt_write_s >= 2 * m:
        return m
    return max(1.0, math.sqrt(2 * ckpt_write_s * (m + downtime_s)) - ckpt_write_s)


def _causes() -> tuple[list[str], list[int]]:
    return [e.category for e in LLAMA3_MIX], [e.count for e in LLAMA3_MIX]


def simulate(policy: Policy, m: float, horizon_s: float, runs: int, seed: int) -> Outcome:
    """Monte Carlo over `runs` independent jobs of `horizon_s` wall seconds each."""
    policy.check()
    rng = random.Random(f"goodput:{seed}:{policy.name}")
    lam = 1.0 / m
    names, weights = _causes()
    tau = policy.ckpt_interval_s
    delta = policy.ckpt_write_s
    d = policy.downtime_s
    useful = ckpt = rollback = down = 0.0
    failures = 0
    by_cause: dict[str, float] = {}
    for _ in range(runs):
        t = 0.0
        while t < horizon_s:
            x = rng.expovariate(lam)  # time to the next failure, from now (memoryless)
            if tau is None:
                if t + x >= horizon_s:
                    useful += horizon_s - t  # the run ends: the work since the last restart counts
                    break
                lost = x + 0.0
            else:
                seg = tau + delta
                whole = min(int(x // seg), int((horizon_s - t) // seg))
                useful += whole * tau
                ckpt += whole * delta
                t += whole * seg
                if t + seg > horizon_s and x - whole * seg >= horizon_s - t:
                    break  # censored: the horizon cuts this segment; leave it out of both sums
                lost = x - whole * seg
            cause = rng.choices(names, weights)[0]
            failures += 1
            rollback += lost
            t += lost
            spent = 0.0
            while t + spent < horizon_s:  # downtime; a failure during it starts it again
                y = rng.expovariate(lam)
                if y >= d:
                    spent += d
                    break
                spent += y
                failures += 1
            spent = min(spent, horizon_s - t)  # the run ends during the downtime
            down += spent
            t += spent
            by_cause[cause] = by_cause.get(cause, 0.0) + (lost + spent) / 3600.0
    total = useful + ckpt + rollback + down
    return Outcome(
        policy=policy,
        ettr=useful / total if total else 0.0,
        ettr_closed_form=closed_form_ettr(m, policy),
        failures_per_run=failures / runs,
        hours={"useful": useful / runs / 3600, "checkpoint": ckpt / runs / 3600,
               "rollback": rollback / runs / 3600, "downtime": down / runs / 3600},
        by_cause={k: v / runs for k, v in by_cause.items()},
    )


def comparison(user: Policy, stock_timeout_s: float = 1800.0) -> list[Policy]:
    """The origin story, stock timeouts with manual localisation (§9's S0), and the user's figures."""
    return [
        Policy("origin story (7 days to localize, restart from zero)", stock_timeout_s, ORIGIN_LOCALIZE_S,
               1800.0, None, 0.0),
        Policy("stock timeouts (30 min timeout, 2 h manual localize, 30 min restart)", stock_timeout_s, 7200.0,
               1800.0, 3 * 3600.0, 300.0),
        Policy("stock NCCL timeout (10 min) with trainmedic localize+recover", 600.0, user.localize_s,
               user.recover_s, user.ckpt_interval_s, user.ckpt_write_s),
        user,
    ]
