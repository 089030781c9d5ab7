"""Hang detector: no rank finished a step for longer than the (learned) hang timeout.

The auto timeout is a multiple of the p99 time between finished steps, with a floor, so a job with
0.3 s steps is flagged within a few seconds while a job with 30 s steps gets minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

from trainmedic.detect.progress import JobProgress
from trainmedic.detect.registry import register
from trainmedic.model import Finding, KnownFault, Severity, Symptom


@register("hang")
@dataclass(slots=True)
class HangDetector:
    """Flags a job whose ranks stopped finishing steps.

    Args:
        timeout_s: fixed timeout; None learns it: max(floor_s, multiplier x p99 step interval).
        floor_s: the smallest auto timeout.
        multiplier: how many p99 step intervals of silence make a hang.
        start_timeout_s: allowance for the first step (imports, rendezvous, checkpoint load).
        checkpoint_factor: timeout multiplier while a rank says it is saving a checkpoint.
        outside_step_s: the timeout while no rank is inside a step (loop ended, or slow loading).
        unattached_floor_s: the smallest timeout for scripts seen only through their step lines.
    """

    timeout_s: float | None = None
    floor_s: float = 3.0
    multiplier: float = 5.0
    start_timeout_s: float = 300.0
    checkpoint_factor: float = 4.0
    outside_step_s: float = 30.0
    unattached_floor_s: float = 10.0
    name: str = "hang"

    def timeout(self, job: JobProgress) -> float:
        """The timeout in force now."""
        if self.timeout_s is not None:
            return self.timeout_s
        p99 = job.interval_p99()
        if p99 is None:
            return max(self.floor_s, 10.0)
        return max(self.floor_s, self.multiplier * p99)

    def check(self, job: JobProgress, now: float) -> Finding | None:
        alive = job.alive()
        if not alive:
            return None
        if job.last_progress_at is None:
            quiet = now - job.started_at
            if quiet <= self.start_timeout_s:
                return None
            return self._finding(now, quiet, self.start_timeout_s, "before the first step finished")
        timeout = self.timeout(job)
        if any(r.phase == "checkpoint" for r in alive):
            timeout *= self.checkpoint_factor
        attached = [r for r in alive if r.attached]
        if attached and not any(r.current_step is not None for r in attached):
            # No rank is inside a step: in a hung synchronous job the victims wait inside one, so
            # this is the loop's end (teardown can take seconds) or slow loading between steps.
            timeout = max(timeout, self.outside_step_s)
        elif not attached:
            timeout = max(timeout, self.unattached_floor_s)
            if any(r.exit_code == 0 for r in job.ranks.values()):
                timeout = max(timeout, self.outside_step_s)
        quiet = now - job.last_progress_at
        if quiet <= timeout:
            return None
        return self._finding(now, quiet, timeout, f"after step {job.max_step}")

    def _finding(self, now: float, quiet: float, timeout: float, where: str) -> Finding:
        return Finding(
            source="detect.hang",
            symptom=Symptom.HANG,
            at=now,
            fault=str(KnownFault.HANG),
            severity=Severity.ERROR,
            message=f"no rank finished a step for {quiet:.1f} s {where} (hang timeout {timeout:.1f} s)",
            fields={"quiet_s": f"{quiet:.3f}", "timeout_s": f"{timeout:.3f}"},
        )
