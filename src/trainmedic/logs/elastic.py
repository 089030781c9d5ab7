"""torchelastic's own records of a failure: a rank's `error.json` and the launcher's console output
(`failed (exitcode: X) local_rank: R (pid: P)`, the `ChildFailedError` summary with its
"Root Cause (first observed failure)", and `Unable to shutdown process P via 15`, the mark of a
process that did not answer SIGTERM: stopped or hung).

Formats as torch 2.x prints them; used by diagnose for the evidence the ranks themselves lack.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from trainmedic.logs.pickled import by_fields
from trainmedic.logs.timestamps import find_year, line_time, parse_iso


@dataclass(frozen=True, slots=True)
class ErrorFile:
    """A torchelastic error file: the exception a rank died with, and when (its node's clock)."""

    message: str
    type: str
    at: float | None

    __reduce__ = by_fields


def parse_error_file(text: str) -> ErrorFile | None:
    """The exception in a torchelastic `error.json`, or None when the text is not one."""
    try:
        doc = json.loads(text)
    except (ValueError, RecursionError):
        return None
    msg = doc.get("message") if isinstance(doc, dict) else None
    extra: dict[str, object] = {}
    if isinstance(msg, dict):
        extra = msg.get("extraInfo") or {}
        msg = msg.get("message")
    if not isinstance(msg, str):
        return None
    at = None
    ts = extra.get("timestamp") if isinstance(extra, dict) else None
    try:
        at = float(str(ts)) if ts is not None else None
    except (TypeError, ValueError):
        at = None
    first = msg.strip().splitlines()[-1] if msg.strip() else ""
    etype, _, rest = first.partition(":")
    if not re.fullmatch(r"[A-Za-z_][\w.]*", etype):
        etype, rest = "", first
    return ErrorFile(message=rest.strip() if etype else first, type=etype, at=at)


@dataclass(frozen=True, slots=True)
class WorkerFailure:
    """One entry of torchrun's failure summary, or one `failed (exitcode ...)` line."""

    local_rank: int
    exitcode: int
    pid: int | None = None
    rank: int | None = None
    host: str | None = None
    at: float | None = None
    root_cause: bool = False
    error_file: str | None = None
    message: str = ""
    line: int = 0
    text: str = ""

    __reduce__ = by_fields


@dataclass(slots=True)
class LauncherLog:
    """What a torchrun (or ft_launcher) console log says about which workers failed and how."""

    failures: list[WorkerFailure] = field(default_factory=list)
    unkillable_pids: list[tuple[int, int, str]] = field(default_factory=list)
    """(pid, line, text) of workers that ignored SIGTERM ("Unable to shutdown process P via 15")."""

    @property
    def found(self) -> bool:
        return bool(self.failures or self.unkillable_pids)

    __reduce__ = by_fields


# srun's own account of each task (srun --kill-on-bad-exit, slurm-%j.out): "srun: error: node0003: task 28: Aborted (core dumped)"
_SRUN = re.compile(r"srun: error: (?P<host>[\w.-]+): tasks? (?P<tasks>[\d,-]+): (?P<what>.+)$")
_SRUN_SIGNALS = {
    "Killed": -9, "Segmentation fault": -11, "Bus error": -7, "Aborted": -6, "Terminated": -15,
    "Floating point exception": -8, "Illegal instruction": -4, "Hangup": -1, "Interrupt": -2,
}
_FAILED = re.compile(r"failed \(exitcode: (-?\d+)\) local_rank: (\d+) \(pid: (\d+)\)")
_UNKILLABLE = re.compile(r"Unable to shutdown process (\d+) via \d+, forcefully exiting via 9")
_ENTRY = re.compile(r"^\s*\[(\d+)\]:\s*$")
_FIELD = re.compile(r"^\s+(time|host|rank|exitcode|error_file|traceback)\s*:\s*(.*)$")


def parse_launcher(text: str, first_line: int = 1) -> LauncherLog:
    """Worker failures from torchrun's console output (any node's agent; first failure first)."""
    out = LauncherLog()
    root_section = False
    current: dict[str, str] | None = None
    cur_line = 0
    lines = text.split("\n")
    year = find_year(text) or 1970

    def flush() -> None:
        if current and "rank" in current and "exitcode" in current:
            out.failures.append(_entry(current, root_section, cur_line))

    for i, line in enumerate(lines):
        n = first_line + i
        if "failed (exitcode" in line:
            m = _FAILED.search(line)
            if m is not None:
                out.failures.append(
                    WorkerFailure(
                        int(m.group(2)), int(m.group(1)), int(m.group(3)), at=line_time(line, year), line=n, text=line.strip()
                    )
                )
            continue
        if line.startswith("srun: error:") and ": task" in line:
            out.failures.extend(_srun(line, n))
            continue
        if "Unable to shutdown" in line:
            m2 = _UNKILLABLE.search(line)
            if m2 is not None:
                out.unkillable_pids.append((int(m2.group(1)), n, line.strip()))
            continue
        if line.startswith("Root Cause"):
            flush()
            current, root_section = None, True
            continue
        if line.startswith(("Failures:", "----", "====")):
            flush()
            current = None
            if line.startswith("Failures:"):
                root_section = False
            continue
        if "]:" in line and _ENTRY.match(line):  # the pattern's "]:", looked for first: most lines lack it
            flush()
            current, cur_line = {}, n
            continue
        if current is not None:
            f = _FIELD.match(line)
            if f is not None:
                current[f.group(1)] = f.group(2).strip()
            elif line.strip() and not line.startswith("    ") and "traceback" in current:
                current["traceback"] += " | " + line.strip()
    flush()
    return out


def _srun(line: str, n: int) -> list[WorkerFailure]:
    m = _SRUN.search(line)
    if m is None:
        return []
    what = m.group("what").strip()
    code = next((c for name, c in _SRUN_SIGNALS.items() if what.startswith(name)), None)
    if code is None:
        ec = re.search(r"[Ee]xit(?:ed)? (?:with )?(?:exit )?code (\d+)", what)
        code = int(ec.group(1)) if ec else 1
    tasks: list[int] = []
    for part in m.group("tasks").split(","):
        lo, _, hi = part.partition("-")
        if lo.isdigit():
            tasks += range(int(lo), int(hi) + 1) if hi.isdigit() else [int(lo)]
    return [
        WorkerFailure(local_rank=-1, exitcode=code, rank=t, host=m.group("host"), line=n, text=line.strip()) for t in tasks
    ]


def _entry(d: dict[str, str], root: bool, line: int) -> WorkerFailure:
    rank_m = re.match(r"(\d+) \(local_rank: (\d+)\)", d.get("rank", ""))
    exit_m = re.match(r"(-?\d+)(?: \(pid: (\d+)\))?", d.get("exitcode", ""))
    at = parse_iso(d.get("time", "").replace("_", " "))
    ef = d.get("error_file")
    return WorkerFailure(
        local_rank=int(rank_m.group(2)) if rank_m else -1,
        exitcode=int(exit_m.group(1)) if exit_m else 0,
        pid=int(exit_m.group(2)) if exit_m and exit_m.group(2) else None,
        rank=int(rank_m.group(1)) if rank_m else None,
        host=d.get("host"),
        at=at,
        root_cause=root,
        error_file=None if not ef or ef.startswith("<N/A") else ef,
        message=d.get("traceback", ""),
        line=line,
        text=f"rank {d.get('rank', '?')} exitcode {d.get('exitcode', '?')} on {d.get('host', '?')}: {d.get('traceback', '')}"[:300],
    )
