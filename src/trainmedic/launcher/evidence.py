"""Evidence for one incident: victim or not, when the fault began, the verdict with its detail.

Pure functions over a job's progress and the ranks' recent output; the supervisor calls them once a
detector fired and the culprit is known.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence

from trainmedic.detect.crash import describe_exit
from trainmedic.detect.progress import JobProgress
from trainmedic.launcher.classify import classify, last_exception, read_kernel_log
from trainmedic.localize.wavefront import CASCADE_HINTS, Localization
from trainmedic.model import Finding, RankLocation, Role, Symptom, Verdict

ERROR_LINE = re.compile(
    r"Traceback \(most recent call last\)|Error\b|Fatal Python error|Segmentation fault|Aborted"
)
KERNEL_WORDS = ("NVRM", "Xid", "AER", "mce", "EDAC", "hccs", "npu", "nvlink", "segfault")


def is_victim(tail: Sequence[str]) -> bool:
    """True when a rank's errors include cascade lines (a peer's failure seen from here)."""
    errs = [t for t in tail if ERROR_LINE.search(t) or any(h in t for h in CASCADE_HINTS)]
    return any(any(h in t for h in CASCADE_HINTS) for t in errs)


def card_text(loc: RankLocation) -> str:
    """`node:index serial` (or bus id, uuid, `cpu slot`) for messages."""
    c = loc.card
    if c is None:
        return "?"
    ident = c.serial or c.bus_id or c.uuid or ("cpu slot" if c.model == "cpu-slot" else "")
    return f"{c.node}:{c.index}" + (f" {ident}" if ident else "")


def onset(job: JobProgress, symptom: Symptom, culprit: int | None, f: Finding) -> float:
    """Best estimate of when the fault began (the incident's `fault` time)."""
    r = job.ranks.get(culprit) if culprit is not None else None
    if symptom is Symptom.HANG:
        if r is not None and r.attached and r.last_beat_at is not None:
            return min(r.last_beat_at, job.last_progress_at or r.last_beat_at)
        return job.last_progress_at or job.started_at
    if symptom is Symptom.EXCEPTION and r is not None and r.first_error_at is not None:
        return r.first_error_at
    if symptom is Symptom.NAN and r is not None and r.bad_loss is not None:
        return r.bad_loss[2]
    return f.at


def observed(job: JobProgress, symptom: Symptom, f: Finding, detected: float) -> float:
    """When the launcher first had data showing the fault (for a hang: when the next step was due)."""
    if symptom is Symptom.HANG and job.last_progress_at is not None:
        return min(detected, job.last_progress_at + (job.interval_p99() or 0.0))
    return min(f.at, detected)


def incident_verdict(
    job: JobProgress,
    tails: Mapping[int, Sequence[str]],
    symptom: Symptom,
    culprit: int | None,
    f: Finding,
    loc: Localization,
    process_state: str | None = None,
) -> Verdict:
    """The catalog's verdict over the culprit's output and the kernel log, with the launcher's detail."""
    lines = list(tails.get(culprit, ())) if culprit is not None else []
    same = False
    if symptom is Symptom.EXCEPTION:
        excs = {last_exception(list(tails.get(r.rank, ()))) for r in job.ranks.values()}
        same = len(excs) == 1 and None not in excs and len(job.ranks) > 1
    kernel = read_kernel_log() if symptom in (Symptom.CRASH, Symptom.HANG) else []
    kernel = [k for k in kernel if any(w in k for w in KERNEL_WORDS)]
    detail = f"{f.message}; culprit {loc.reason}"
    if process_state is not None:
        detail += f"; process state {process_state}"
    if symptom in (Symptom.CRASH, Symptom.EXCEPTION) and culprit is not None:
        r = job.ranks[culprit]
        if r.exception is not None:
            detail = f"rank {culprit} raised {r.exception[0]}; {loc.reason}"
        elif r.exit_code is not None:
            detail = f"rank {culprit} {describe_exit(r.exit_code)}; {loc.reason}"
    v = classify(symptom, lines, kernel, detail=detail, same_exception_everywhere=same)
    return v if v.role is Role.ROOT else dataclasses.replace(v, role=Role.ROOT)
