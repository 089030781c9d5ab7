"""`diagnose(path)`: a job's logs (directory or tar archive) in, one incident `Diagnosis` out.

Scan in parallel -> views on one clock -> evidence -> judge -> victims, timeline, what could not be
read and how that lowers confidence. The CLI and the launcher call this.
"""

from __future__ import annotations

import gc
import os
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

from trainmedic.catalog import Catalog
from trainmedic.diagnose.catalog_cache import cached_catalog
from trainmedic.diagnose.evidence import Evidence, gather
from trainmedic.diagnose.judge import Judgement, judge
from trainmedic.diagnose.result import Diagnosis, Event
from trainmedic.diagnose.scan import ScanResult, scan
from trainmedic.diagnose.views import JobView, build
from trainmedic.logs.reading import count_lines_before
from trainmedic.model import Evidence as Ev


class DiagnoseError(Exception):
    """The input cannot be diagnosed at all (missing path, unreadable archive); says what to do."""

    def __init__(self, message: str, hint: str = ""):
        super().__init__(message)
        self.hint = hint


def diagnose(
    path: str | os.PathLike[str],
    catalog: Catalog | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    keep: list[object] | None = None,
) -> Diagnosis:
    """Diagnose the job whose logs are at `path` (a directory, or a .tar/.tar.gz/.tgz archive).

    `keep`, when given, receives the raw scan instead of it being freed on return: a process that exits
    right after need not free its million objects one by one (0.2 s on 18,432 ranks)."""
    p = os.fspath(path)
    t0 = time.perf_counter()
    catalog = catalog or cached_catalog()
    # Millions of small objects live until the verdict: the cyclic collector would walk them again and
    # again (a third of the run) and frees nothing, as none of them form cycles. Reader processes
    # forked from here inherit this.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _diagnose_path(p, catalog, workers, progress, t0, keep)
    finally:
        if collecting:
            gc.enable()


def _diagnose_path(
    p: str,
    catalog: Catalog,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
    t0: float,
    keep: list[object] | None,
) -> Diagnosis:
    if os.path.isdir(p):
        return _diagnose_dir(p, p, catalog, workers, progress, t0, keep)
    if not os.path.exists(p):
        raise DiagnoseError(f"{p}: no such file or directory", "pass the job's log directory or a tar archive of it")
    import tarfile  # only for archives
    import tempfile

    if tarfile.is_tarfile(p):
        with tempfile.TemporaryDirectory(prefix="trainmedic-diagnose-") as tmp:
            try:
                with tarfile.open(p, "r:*") as tar:
                    members = [m for m in tar.getmembers() if m.isfile() or m.isdir()]
                    tar.extractall(tmp, members=members, filter="data")
            except (tarfile.TarError, OSError, EOFError) as e:
                raise DiagnoseError(f"{p}: cannot read the archive ({e})", "check the archive with `tar tf`") from e
            return _diagnose_dir(tmp, p, catalog, workers, progress, t0, keep)
    raise DiagnoseError(
        f"{p}: not a directory or a tar archive",
        "pass the job's log directory (torchrun --log-dir, Slurm output, pod logs) or a .tar/.tar.gz of it",
    )


def _diagnose_dir(
    root: str,
    shown: str,
    catalog: Catalog,
    workers: int | None,
    progress: Callable[[int, int], None] | None,
    t0: float,
    keep: list[object] | None = None,
) -> Diagnosis:
    t_read = time.perf_counter()
    res = scan(root, catalog, workers, progress)
    if keep is not None:
        keep.append(res)
    t_views = time.perf_counter()
    job = build(res)
    ev = gather(job, res.others, catalog)
    j = judge(job, ev, res.others, catalog)
    t_judged = time.perf_counter()
    unreadable, lowered = _unreadable(res, job)
    notes = [*job.notes, *j.notes]
    verdict = j.verdict
    if lowered > 0 and verdict.confidence > 0:
        verdict = replace(verdict, confidence=max(0.05, verdict.confidence * (1 - lowered)))
        notes.append(f"confidence lowered by {lowered:.0%}: {len(unreadable)} files could not be read in full")
    if not res.files:
        notes.append(f"{shown}: no log files found (empty directory?)")
    elif not job.ranks:
        notes.append("no rank logs recognised (torchrun --log-dir, slurm-%j.%t.out, rank_N.log, pod logs)")
    offsets = _TailOffsets(res)
    verdict = replace(verdict, evidence=tuple(_number(root, e, offsets) for e in verdict.evidence))
    second = j.second
    if second is not None:
        second = replace(second, evidence=tuple(_number(root, e, offsets) for e in second.evidence))
    return Diagnosis(
        verdict=verdict,
        method=j.method,
        first_error_at=j.first_error_at,
        victims=_victims(job, ev, j),
        second=second,
        timeline=tuple(_timeline(job, ev, j)),
        unreadable=tuple(unreadable),
        notes=tuple(notes),
        stats={
            "files": res.files,
            "ranks": len(job.ranks),
            "nodes": len(job.nodes),
            "bytes_read": res.bytes_read,
            "seconds": round(time.perf_counter() - t0, 3),
            "phase_seconds": {
                "read": round(t_views - t_read, 3),
                "judge": round(t_judged - t_views, 3),
                "report": round(time.perf_counter() - t_judged, 3),
            },
            "skipped": res.skipped,
            "attempt": job.attempt,
        },
    )


def _unreadable(res: ScanResult, job: JobView) -> tuple[list[str], float]:
    """Files that could not be read (or only partly), and the share of confidence that costs."""
    bad: dict[str, list[str]] = {}
    for f, p in res.problems:
        bad.setdefault(f, []).append(p)
    out = [f"{f}: {'; '.join(ps)}" for f, ps in sorted(bad.items())]
    lost = sum(1 for ps in bad.values() if any(p.startswith(("unreadable", "binary", "could not")) for p in ps))
    damaged = len(bad) - lost
    total = max(res.files, 1)
    lowered = min(0.6, lost / total * 2 + (0.05 if damaged else 0.0) + (0.1 if lost else 0.0))
    return out, lowered


def _number(root: str, e: Ev, offsets: _TailOffsets) -> Ev:
    """Exact line numbers for cited lines that came from a file's tail (count the bytes before it)."""
    if e.file is None or e.line is None:
        return e
    offset = offsets.of(e.file)
    if not offset:
        return e
    before = count_lines_before(os.path.join(root, e.file), offset)
    return replace(e, line=e.line + before) if before is not None else replace(e, line=None)


class _TailOffsets:
    """Where each partly read file's tail starts, gathered from the scan on first use (the first entry
    for a file wins, in the order ranks, kernel logs, other logs)."""

    def __init__(self, res: ScanResult) -> None:
        self._res = res
        self._by_file: dict[str, int] | None = None

    def of(self, file: str) -> int:
        if self._by_file is None:
            by_file: dict[str, int] = {}
            for rr in self._res.ranks:
                for f, offset in rr.scan.tail_offsets.items():
                    by_file.setdefault(f, offset)
            for _, ks in self._res.kernels:
                by_file.setdefault(ks.file, ks.tail_offset)
            for o in self._res.others:
                by_file.setdefault(o.file, o.tail_offset)
            self._by_file = by_file
        return self._by_file.get(file, 0)


def _victims(job: JobView, ev: Evidence, j: Judgement) -> dict[str, object]:
    faults: Counter[str] = Counter()
    ranks = 0
    for r, c in ev.victims.items():
        if r in j.culprit_ranks:
            continue
        ranks += 1
        for f in c:
            faults[f] += 1
    silent = [r for r in ev.silent if r not in j.culprit_ranks]
    return {
        "ranks": ranks,
        "faults": [{"fault": f, "ranks": n} for f, n in faults.most_common()],
        "silent_ranks": len(silent),
        "total_ranks": len(job.ranks),
    }


def _timeline(job: JobView, ev: Evidence, j: Judgement) -> list[Event]:
    events: list[Event] = []
    v = j.verdict
    where = f"rank {v.culprit.rank} on {v.culprit.node}" if v.culprit else "all ranks"
    if j.first_error_at is not None or v.evidence:
        e0 = v.evidence[0] if v.evidence else None
        events.append(Event(j.first_error_at, f"first sign: {v.title}", where, e0.file if e0 else None, e0.line if e0 else None))
    if v.culprit and v.culprit.rank in job.ranks:
        cv = job.ranks[v.culprit.rank]
        if cv.last_progress_at is not None:
            events.append(Event(cv.last_progress_at, f"culprit's last step ({cv.last_step})", where))
    firsts = sorted((c for c in ev.cascade_first.items() if c[1][0] is not None), key=lambda kv: kv[1][0])  # type: ignore[arg-type, return-value]
    if firsts:
        r, c = firsts[0]
        events.append(Event(c[0], f"first victim error ({len(ev.victims)} ranks in all)", f"rank {r}", c[2], c[3]))
        r, c = firsts[-1]
        events.append(Event(c[0], "last victim error", f"rank {r}", c[2], c[3]))
    if j.second is not None:
        s = j.second
        events.append(Event(j.second_at, f"second fault: {s.title}", f"rank {s.culprit.rank} on {s.culprit.node}" if s.culprit else ""))
    ends = [(at - v2.offset, r) for r, v2 in job.ranks.items() if (at := v2.result.scan.end_at) is not None]  # v2.end_at
    if ends:
        at, r = max(ends)
        events.append(Event(at, "last line in any rank log", f"rank {r}"))
    events.sort(key=lambda e: (e.at is None, e.at or 0.0))
    return events
