"""Live localization: which rank stopped first, never entered the collective, or failed first.

Called by the launcher when a detector fires. A hung synchronous job leaves every rank waiting in
one collective except the culprit; the heartbeats say which rank is silent (stopped process), which
entered fewer collectives (stuck before the collective), or which exited while the others wait.
"""

from __future__ import annotations

import signal
from collections.abc import Callable
from dataclasses import dataclass

from trainmedic.detect.progress import JobProgress, RankProgress
from trainmedic.model import Symptom

HARD_SIGNALS = {
    int(s)
    for s in (signal.SIGKILL, signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGFPE)
}
# Lines that mark a rank as a victim of another's failure. The catalog's cascade rules are the
# authority; these cover gloo until the catalog does, so a victim's earlier exit is not blamed.
CASCADE_HINTS = (
    "Connection closed by peer",
    "Connection reset by peer",
    "Timed out waiting",
    "connectFullMesh failed",
    "Broken pipe",
    "Watchdog caught collective operation timeout",
)


@dataclass(frozen=True, slots=True)
class Localization:
    """The culprit rank (None when the evidence does not single one out) and why."""

    rank: int | None
    reason: str
    others: tuple[int, ...] = ()
    method: str = ""


def locate(
    job: JobProgress,
    symptom: Symptom,
    now: float,
    hinted_rank: int | None = None,
    silence_s: float = 1.0,
    is_victim: Callable[[int], bool] | None = None,
) -> Localization:
    """Name the culprit of `symptom` from the job's live progress.

    Args:
        hinted_rank: the rank a detector already named (straggler, NaN).
        silence_s: heartbeat silence that marks a stopped process (heartbeats come every 0.1 s).
        is_victim: tells whether a rank's own output shows only cascade errors (from the catalog).
    """
    if symptom in (Symptom.STRAGGLER, Symptom.NAN) and hinted_rank is not None:
        return Localization(hinted_rank, "named by the detector", method="detector")
    if symptom in (Symptom.CRASH, Symptom.EXCEPTION):
        return first_failure(job, now, is_victim)
    return hung_rank(job, now, silence_s)


def first_failure(
    job: JobProgress, now: float, is_victim: Callable[[int], bool] | None = None
) -> Localization:
    """The rank whose failure came first: killed by a hard signal, else first error line or exit,
    preferring ranks whose output is not only cascade errors."""
    failed = [r for r in job.ranks.values() if r.exit_code not in (None, 0) or r.first_error_at is not None]
    if not failed:
        return hung_rank(job, now, 1.0)
    victim = is_victim or (lambda _rank: False)

    def key(r: RankProgress) -> tuple[int, int, float, int]:
        hard = r.exit_code is not None and -r.exit_code in HARD_SIGNALS
        at = min(t for t in (r.first_error_at, r.exited_at, now) if t is not None)
        return (0 if hard else 1, 1 if victim(r.rank) else 0, at, r.rank)

    ordered = sorted(failed, key=key)
    first = ordered[0]
    if first.exit_code is not None and -first.exit_code in HARD_SIGNALS:
        why = f"killed by signal {-first.exit_code} while its peers failed after it"
        method = "hard_signal"
    elif first.first_error_at is not None:
        why = "printed the first error of the job; the other ranks failed after it"
        method = "first_error"
    else:
        why = "exited first"
        method = "first_exit"
    return Localization(first.rank, why, tuple(r.rank for r in ordered[1:]), method)


def hung_rank(job: JobProgress, now: float, silence_s: float = 1.0) -> Localization:
    """The rank the others wait for in a hang."""
    ranks = list(job.ranks.values())
    exited = sorted((r for r in ranks if not r.alive), key=lambda r: (r.exited_at or 0.0, r.rank))
    if exited and any(r.alive for r in ranks):
        r = exited[0]
        return Localization(
            r.rank,
            f"exited (code {r.exit_code}) while its peers wait for it",
            tuple(x.rank for x in exited[1:]),
            "exited",
        )
    attached = [r for r in ranks if r.attached and r.alive]
    beating = [r for r in attached if r.last_beat_at is not None and now - r.last_beat_at <= silence_s]
    silent = [r for r in attached if r not in beating]
    if silent and beating:
        silent.sort(key=lambda r: (r.last_beat_at or 0.0, r.rank))
        r = silent[0]
        gap = now - (r.last_beat_at or now)
        return Localization(
            r.rank,
            f"stopped responding: no heartbeat for {gap:.1f} s while its peers' keep coming "
            "(process stopped, or stuck without releasing the interpreter)",
            tuple(x.rank for x in silent[1:]),
            "silent",
        )
    counted = [r for r in attached if r.coll_entered is not None]
    if len(counted) >= 2:
        lo = min(r.coll_entered or 0 for r in counted)
        hi = max(r.coll_entered or 0 for r in counted)
        if lo < hi:
            behind = sorted((r for r in counted if r.coll_entered == lo), key=lambda r: r.rank)
            if len(behind) < len(counted):
                r = behind[0]
                return Localization(
                    r.rank,
                    f"never entered the collective its peers wait in (entered {lo}, peers {hi}; "
                    f"in phase '{r.phase}' of step {r.current_step})",
                    tuple(x.rank for x in behind[1:]),
                    "collective_wavefront",
                )
    stepped = [r for r in attached if r.last_step is not None]
    if len(stepped) >= 2:
        lo_step = min(r.last_step or 0 for r in stepped)
        if any((r.last_step or 0) > lo_step for r in stepped):
            behind = sorted((r for r in stepped if r.last_step == lo_step), key=lambda r: r.rank)
            if len(behind) < len(stepped):
                r = behind[0]
                return Localization(
                    r.rank,
                    f"finished fewest steps ({lo_step}; peers more)",
                    tuple(x.rank for x in behind[1:]),
                    "step_wavefront",
                )
    progressed = [r for r in ranks if r.last_progress_at is not None]
    if len(progressed) >= 2 and len({r.last_progress_at for r in progressed}) > 1 and not attached:
        r = min(progressed, key=lambda r: (r.last_progress_at or 0.0, r.rank))
        return Localization(r.rank, "printed its last step line first", method="last_progress")
    return Localization(
        None, "every rank looks alike (no heartbeats, or all waiting): culprit not singled out"
    )
