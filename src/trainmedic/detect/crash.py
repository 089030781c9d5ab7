"""Crash detector: a rank exited with a non-zero code, was killed by a signal, or reported an
uncaught Python exception (through `trainmedic.train`, before its slow teardown).

Detection is the first such exit; naming the culprit waits a moment for the others (see
`localize.wavefront.first_failure`), because a victim can die before the culprit (gloo teardown).
"""

from __future__ import annotations

import signal
from dataclasses import dataclass

from trainmedic.detect.progress import JobProgress, RankProgress
from trainmedic.detect.registry import register
from trainmedic.model import Finding, KnownFault, Severity, Symptom


def describe_exit(code: int) -> str:
    """`exit code 1` or `killed by SIGKILL (-9)`, as Popen.returncode reports it."""
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name} ({code})"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@register("crash")
@dataclass(slots=True)
class CrashDetector:
    """Flags the first rank that exited non-zero; a Python traceback in its output makes it an exception."""

    name: str = "crash"

    def check(self, job: JobProgress, now: float) -> Finding | None:
        failed = [r for r in job.ranks.values() if r.exit_code not in (None, 0) or r.exception is not None]
        if not failed:
            return None

        def at(r: RankProgress) -> float:
            return min(
                t for t in (r.exited_at, r.exception[1] if r.exception else None, now) if t is not None
            )

        first = min(failed, key=lambda r: (at(r), r.rank))
        if first.exception is not None:
            what = f"raised {first.exception[0]}"
            symptom = Symptom.EXCEPTION
        else:
            assert first.exit_code is not None
            what = describe_exit(first.exit_code)
            symptom = Symptom.CRASH
        return Finding(
            source="detect.crash",
            symptom=symptom,
            at=at(first),
            rank=first.rank,
            node=first.node,
            card_index=first.local_rank,
            fault=str(KnownFault.CRASH),
            severity=Severity.ERROR,
            message=f"rank {first.rank} {what} ({len(failed)} rank(s) failed)",
            fields={"exit_code": str(first.exit_code)},
        )
