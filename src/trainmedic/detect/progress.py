"""Per-rank progress of one attempt of a job, as the online detectors see it.

The launcher feeds it heartbeats (from `trainmedic.train`), step lines (from scripts that only
print), and exits; hang, crash, straggler and nan detectors read it. Times are the launcher's
clock at receipt, so a rank's own clock never matters.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Protocol

from trainmedic.model import Finding
from trainmedic.train.protocol import Heartbeat, StepRecord


@dataclass(slots=True)
class RankProgress:
    """What the launcher knows about one rank right now."""

    rank: int
    local_rank: int = 0
    node: str = "localhost"
    pid: int | None = None
    started_at: float = 0.0
    attached: bool = False
    last_beat_at: float | None = None
    last_step: int | None = None
    current_step: int | None = None
    phase: str = ""
    phase_since: float = 0.0
    coll_entered: int | None = None
    coll_completed: int | None = None
    steps: collections.deque[StepRecord] = field(default_factory=lambda: collections.deque(maxlen=64))
    last_progress_at: float | None = None
    exited_at: float | None = None
    exit_code: int | None = None
    bad_loss: tuple[int | None, float, float] | None = None
    """(step, value, received at) of the first non-finite loss."""
    last_loss: float | None = None
    first_error_at: float | None = None
    exception: tuple[str, float] | None = None
    """(`Type: message`, received at) of an uncaught exception the rank reported."""
    dropped: int = 0

    @property
    def alive(self) -> bool:
        return self.exited_at is None


class JobProgress:
    """All ranks of one attempt, plus the job-wide step cadence the hang timeout learns from."""

    def __init__(self, ranks: list[RankProgress], started_at: float) -> None:
        self.ranks = {r.rank: r for r in ranks}
        self.started_at = started_at
        self.last_progress_at: float | None = None
        self.first_progress_at: float | None = None
        self.first_step: int | None = None
        self.max_step: int | None = None
        self.intervals: collections.deque[float] = collections.deque(maxlen=256)
        self._last_end: dict[int, float] = {}
        self.checkpoints: list[tuple[int, str, float]] = []

    # ---- ingestion ---------------------------------------------------------------------------------

    def heartbeat(self, hb: Heartbeat, now: float) -> None:
        r = self.ranks.get(hb.rank)
        if r is None:
            return
        r.attached = True
        r.pid = hb.pid
        r.last_beat_at = now
        r.current_step = hb.current_step
        r.phase = hb.phase
        r.phase_since = hb.phase_since
        r.coll_entered = hb.coll_entered
        r.coll_completed = hb.coll_completed
        r.dropped = hb.dropped
        if hb.last_loss is not None:
            r.last_loss = hb.last_loss
        for bad_step, value in hb.bad_losses:
            if r.bad_loss is None:
                r.bad_loss = (bad_step, value, now)
        if hb.exception and r.exception is None:
            r.exception = (hb.exception, now)
            if r.first_error_at is None:
                r.first_error_at = now
        for step, path in hb.checkpoints:
            self.checkpoints.append((step, path, now))
        for rec in hb.steps:
            r.steps.append(rec)
            prev = self._last_end.get(hb.rank)
            if prev is not None and rec.ended_at > prev:
                self.intervals.append(rec.ended_at - prev)
            self._last_end[hb.rank] = rec.ended_at
        if hb.last_step is not None and hb.last_step != r.last_step:
            r.last_step = hb.last_step
            self._progress(r, hb.last_step, now)

    def step_line(self, rank: int, step: int, now: float) -> None:
        """A printed step line counts as progress for scripts without the in-job library."""
        r = self.ranks.get(rank)
        if r is None or r.last_step == step:
            return
        prev = r.last_progress_at
        r.last_step = step
        if prev is not None and not r.attached:
            self.intervals.append(now - prev)
        self._progress(r, step, now)

    def error_line(self, rank: int, now: float) -> None:
        r = self.ranks.get(rank)
        if r is not None and r.first_error_at is None:
            r.first_error_at = now

    def exited(self, rank: int, code: int, now: float) -> None:
        r = self.ranks.get(rank)
        if r is not None and r.exited_at is None:
            r.exited_at = now
            r.exit_code = code

    def _progress(self, r: RankProgress, step: int, now: float) -> None:
        r.last_progress_at = now
        self.last_progress_at = now
        if self.first_progress_at is None:
            self.first_progress_at = now
            self.first_step = step
        if self.max_step is None or step > self.max_step:
            self.max_step = step

    # ---- queries -----------------------------------------------------------------------------------

    def alive(self) -> list[RankProgress]:
        return [r for r in self.ranks.values() if r.alive]

    def all_exited(self) -> bool:
        return all(not r.alive for r in self.ranks.values())

    def interval_p99(self) -> float | None:
        """The 99th percentile of the time between finished steps on one rank (None before 3)."""
        if len(self.intervals) < 3:
            return None
        xs = sorted(self.intervals)
        return xs[min(len(xs) - 1, math.ceil(0.99 * len(xs)) - 1)]


class OnlineDetector(Protocol):
    """One online detector: looks at a job's progress at time `now`, returns a finding or None."""

    name: str

    def check(self, job: JobProgress, now: float) -> Finding | None: ...
