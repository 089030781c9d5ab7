"""Straggler detector: one rank persistently busier than its peers, so everyone waits for it.

In a synchronous job every rank's step takes as long as the slowest, so step time cannot name the
straggler; the time each rank waits inside the collective can: the straggler waits least. Busy time
= step duration - collective wait (from `trainmedic.train.torch_progress`); without wait times the
step durations themselves are compared (which finds stragglers only in loosely coupled jobs).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from trainmedic.detect.progress import JobProgress
from trainmedic.detect.registry import register
from trainmedic.model import Finding, KnownFault, Severity, Symptom


@register("straggler")
@dataclass(slots=True)
class StragglerDetector:
    """Flags a rank whose busy time exceeds `ratio` x the median of its peers' for `steps` steps running.

    Args:
        steps: how many consecutive common steps the same rank must be the outlier.
        ratio: busy time over the peers' median busy time.
        min_excess_s: and at least this many seconds more (ignores jitter on tiny steps).
        warmup_steps: steps after the first of an attempt that are not judged (allocation, caches).
    """

    steps: int = 6
    ratio: float = 2.5
    min_excess_s: float = 0.1
    warmup_steps: int = 3
    name: str = "straggler"

    def check(self, job: JobProgress, now: float) -> Finding | None:
        ranks = [r for r in job.ranks.values() if r.alive and r.steps]
        if len(ranks) < 2 or job.first_step is None:
            return None
        busy: dict[int, dict[int, float]] = {}
        for r in ranks:
            busy[r.rank] = {
                rec.step: rec.duration_s - (rec.wait_s or 0.0)
                for rec in r.steps
                if rec.step >= job.first_step + self.warmup_steps
            }
        common = sorted(set.intersection(*(set(b) for b in busy.values())))
        if len(common) < self.steps:
            return None
        window = common[-self.steps :]
        culprit: int | None = None
        excesses: list[float] = []
        for step in window:
            by_rank = {rank: b[step] for rank, b in busy.items()}
            top = max(by_rank, key=lambda k: by_rank[k])
            peers = statistics.median(v for k, v in by_rank.items() if k != top)
            if by_rank[top] < self.ratio * peers or by_rank[top] - peers < self.min_excess_s:
                return None
            if culprit is None:
                culprit = top
            elif culprit != top:
                return None
            excesses.append(by_rank[top] - peers)
        assert culprit is not None
        r = job.ranks[culprit]
        uses_wait = any(rec.wait_s is not None for rec in r.steps)
        basis = "busy time (step minus collective wait)" if uses_wait else "step time"
        return Finding(
            source="detect.straggler",
            symptom=Symptom.STRAGGLER,
            at=now,
            rank=culprit,
            node=r.node,
            card_index=r.local_rank,
            fault=str(KnownFault.STRAGGLER),
            severity=Severity.WARNING,
            message=(
                f"rank {culprit} is the straggler: its {basis} exceeded its peers' by "
                f"{statistics.median(excesses):.3f} s (median) for {self.steps} steps running "
                f"(steps {window[0]}-{window[-1]}); the others wait for it"
            ),
            fields={"excess_s": f"{statistics.median(excesses):.4f}", "basis": basis},
        )
