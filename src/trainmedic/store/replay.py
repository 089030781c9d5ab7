"""Replays a real fault trace through the escalation policy and scores its prediction "this device
will fail again within H days" at each decision point: precision, recall, and how many healthy
devices it would have pulled. Baselines (pull everything; pull after a second fault) run alongside.

Decision points: InfiniteHBD, a node going back in service after a fault; Titan, a card being
installed (all installs, and just the returns after a failure), and a slot losing a card to a fault.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trainmedic.store.escalation import DAY_S, Fault, Policy, Repair, assess_card, assess_node
from trainmedic.store.records import RepairAction
from trainmedic.store.traces import Episode, Trace


@dataclass
class Score:
    """Confusion counts of one predictor."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    healthy: set[str] = field(default_factory=set)

    def add(self, device: str, predicted: bool, actual: bool) -> None:
        if predicted and actual:
            self.tp += 1
        elif predicted:
            self.fp += 1
            self.healthy.add(device)
        elif actual:
            self.fn += 1
        else:
            self.tn += 1

    def to_dict(self) -> dict[str, Any]:
        pulled = self.tp + self.fp
        pos = self.tp + self.fn
        return {
            "decisions": self.tp + self.fp + self.fn + self.tn,
            "failed_again": pos,
            "pulled": pulled,
            "tp": self.tp,
            "fp": self.fp,
            "fn": self.fn,
            "tn": self.tn,
            "precision": round(self.tp / pulled, 3) if pulled else None,
            "recall": round(self.tp / pos, 3) if pos else None,
            "healthy_pulled": self.fp,
            "healthy_devices_pulled": len(self.healthy),
        }


def _history(eps: list[Episode], t: float) -> tuple[list[Fault], list[Repair]]:
    faults = [Fault(e.start, str(e.component)) for e in eps if e.start <= t]
    repairs = [Repair(e.end, RepairAction.NONE, e.end) for e in eps if e.end is not None and e.end <= t]
    return faults, repairs


class _Index:
    """Fault start times per device and fleet-wide, for window counts by bisection."""

    def __init__(self, episodes: tuple[Episode, ...], key: Callable[[Episode], str]):
        self.all = sorted(e.start for e in episodes)
        self.per: dict[str, list[float]] = defaultdict(list)
        for e in episodes:
            self.per[key(e)].append(e.start)
        for v in self.per.values():
            v.sort()

    def count(self, times: list[float], lo: float, hi: float) -> int:
        """Faults with lo < t <= hi."""
        return bisect_right(times, hi) - bisect_right(times, lo)

    def fails_within(self, device: str, t: float, horizon_s: float) -> bool:
        times = self.per.get(device, [])
        i = bisect_right(times, t)
        return i < len(times) and times[i] <= t + horizon_s

    def faults_before(self, device: str, t: float) -> int:
        return bisect_left(self.per.get(device, []), t)


def evaluate(trace: Trace, policy: Policy, horizon_days: float = 30.0) -> dict[str, Any]:
    """Score the policy and the baselines on `trace`; decision points whose horizon runs past the end of
    the trace are left out (their outcome is unknown)."""
    h = horizon_days * DAY_S
    lw = policy.lemon_window_days * DAY_S
    by_device: dict[str, list[Episode]] = defaultdict(list)
    for e in trace.episodes:
        by_device[e.device].append(e)
    dev = _Index(trace.episodes, lambda e: e.device)
    node = _Index(trace.episodes, lambda e: e.node)
    scores: dict[str, Score] = defaultdict(Score)

    def lemon(n: str, t: float) -> bool:
        mine = node.count(node.per.get(n, []), t - lw, t)
        return assess_node(policy, mine, node.count(node.all, t - lw, t), trace.fleet_nodes).lemon

    if trace.devices == "node":
        for e in trace.episodes:
            t = e.end
            if t is None or t + h > trace.end:
                continue
            actual = dev.fails_within(e.device, t, h)
            faults, repairs = _history(by_device[e.device], t)
            ladder = assess_card(policy, faults, repairs, t).pull
            is_lemon = lemon(e.node, t)
            scores["policy: ladder (node as device)"].add(e.device, ladder, actual)
            scores["policy: lemon score"].add(e.device, is_lemon, actual)
            scores["policy: ladder or lemon"].add(e.device, ladder or is_lemon, actual)
            scores["baseline: pull every faulty node"].add(e.device, True, actual)
            scores["baseline: pull on 2nd fault ever"].add(e.device, len(faults) >= 2, actual)
    else:
        for ins in trace.installs:
            t = ins.at
            if t + h > trace.end:
                continue
            actual = dev.fails_within(ins.serial, t, h)
            eps = by_device.get(ins.serial, [])
            faults, repairs = _history(eps, t)
            pull = assess_card(policy, faults, repairs, t).pull if faults else False
            scores["policy: ladder, all installs"].add(ins.serial, pull, actual)
            scores["baseline: 2nd fault ever, all installs"].add(ins.serial, len(faults) >= 2, actual)
            if faults:
                scores["policy: ladder, returns after a fault"].add(ins.serial, pull, actual)
                scores["baseline: refuse every return"].add(ins.serial, True, actual)
        for e in trace.episodes:
            t = e.start
            if t + h > trace.end:
                continue
            actual = node.fails_within(e.node, t, h)
            scores["policy: lemon score, slot after a fault"].add(e.node, lemon(e.node, t), actual)
            scores["baseline: pull every slot after a fault"].add(e.node, True, actual)
            scores["baseline: slot's 2nd fault ever"].add(e.node, node.faults_before(e.node, t) >= 1, actual)
    return {
        "trace": trace.name,
        "devices": trace.devices,
        "episodes": len(trace.episodes),
        "fleet_nodes": trace.fleet_nodes,
        "days": round((trace.end - trace.start) / DAY_S, 1),
        "horizon_days": horizon_days,
        "policy": policy.to_dict(),
        "predictors": {k: v.to_dict() for k, v in scores.items()},
    }
