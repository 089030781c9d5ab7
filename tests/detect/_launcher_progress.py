"""Builders for a job's progress with an injected clock (no sleeps)."""

from __future__ import annotations

from trainmedic.detect.progress import JobProgress, RankProgress
from trainmedic.train.protocol import Heartbeat, StepRecord


def make_job(n: int = 4, t0: float = 1000.0) -> JobProgress:
    return JobProgress([RankProgress(rank=r, local_rank=r) for r in range(n)], started_at=t0)


def beat(
    job: JobProgress,
    rank: int,
    now: float,
    last_step: int | None = None,
    current: int | None = None,
    steps: tuple[StepRecord, ...] = (),
    entered: int | None = None,
    bad: tuple[tuple[int | None, float], ...] = (),
    phase: str = "step",
    exception: str | None = None,
) -> None:
    job.heartbeat(
        Heartbeat(
            rank=rank,
            pid=100 + rank,
            attempt=0,
            sent_at=now,
            seq=1,
            last_step=last_step,
            current_step=current,
            phase=phase,
            coll_entered=entered,
            coll_completed=None if entered is None else entered,
            steps=steps,
            bad_losses=bad,
            exception=exception,
        ),
        now,
    )


def train_steps(
    job: JobProgress,
    n_steps: int,
    period: float = 0.3,
    start: float = 1000.0,
    busy: dict[int, float] | None = None,
) -> float:
    """Every rank finishes `n_steps` steps, one per `period`; returns the time of the last."""
    t = start
    for step in range(n_steps):
        t = start + (step + 1) * period
        for r in job.ranks:
            b = (busy or {}).get(r, 0.05)
            dur = period * 0.9
            rec = StepRecord(step, dur, dur - b, t)
            beat(job, r, t, last_step=step, steps=(rec,), entered=step + 1, phase="between_steps")
    return t
