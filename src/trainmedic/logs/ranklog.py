"""One rank's log, summarised for diagnosis: who it is (rank, host, card hints), how far it got (last
steps with their times, first NaN loss, step metrics), and what it said at the end (catalog hits,
the Python exception it died with).

Works on a head and a tail (`logs.reading.Text`); called once per rank log by diagnose's scanner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from trainmedic.logs.linematch import LineMatcher
from trainmedic.logs.timestamps import find_year, line_time, strip_prefix
from trainmedic.model import Role

MAX_ROOT_HITS = 40
MAX_CASCADE_HITS = 3

_STEP = re.compile(
    r"^(?P<line>.*?\b(?:global[_ ]?)?(?:step|iter(?:ation)?)\b['\"]?[\s:=#\[]*(?P<step>\d+)\b.*)$",
    re.MULTILINE | re.IGNORECASE,
)
# The keyword alone, to find candidate lines fast (the full pattern then reads the line found).
_STEP_WORD = re.compile(r"\b(?:step|iter(?:ation)?)\b['\"]?[ \t:=#\[]*\d", re.IGNORECASE)
_EXC_LINE = re.compile(r"^\s*(?:[\w.]+\.)?\w*(?:Error|Exception)\b")
_LOSS = re.compile(r"\bloss\b", re.IGNORECASE)
_NAN_LOSS = re.compile(r"\bloss\b['\"]?[\s:=]*[-+]?(?:nan|inf)\b", re.IGNORECASE)
_METRIC = re.compile(r"([A-Za-z][\w/%.-]*?)['\"]?(?:\s*[:=]\s*|\s+)(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)(?:\s*(ms|s)\b)?")
_IDENTITY = {
    "rank": re.compile(r"(?<![\w.])RANK[=:][ \t]*(\d+)"),
    "local_rank": re.compile(r"\bLOCAL_RANK[=:][ \t]*(\d+)"),
    "world_size": re.compile(r"\bWORLD_SIZE[=:][ \t]*(\d+)"),
    "visible": re.compile(r"\b(?:CUDA|ASCEND_RT|HIP|ROCR)_VISIBLE_DEVICES[=:][ \t]*([0-9][0-9,]*)"),
    "host": re.compile(r"\b(?:host|hostname|node)\b[ \t]*[:=]?[ \t]*([A-Za-z][\w.-]*)"),
    "prefix_rank": re.compile(r"\[rank\s?(\d+)\]", re.IGNORECASE),
}
_NCCL_INIT = re.compile(
    r"^(?:\[(?:rank|default)\d+\]:\s?)?(?P<host>[\w.-]+):\d+:\d+ \[(?P<dev>\d+)\] NCCL INFO .*?\brank (?P<rank>\d+) nranks (?P<n>\d+)"
    r" cudaDev (?P<cuda>\d+)(?: nvmlDev (?P<nvml>\d+))? busId (?P<bus>[0-9a-fA-F]+).*Init COMPLETE",
    re.MULTILINE,
)
# A safety net for catalogs that lack collective-library rules: text that only ever follows a failure
# elsewhere. The catalog's role=cascade rules come first; this is used only for lines no rule knows.
FALLBACK_CASCADE = re.compile(
    r"Connection closed by (?:remote )?peer|Connection reset by peer|Timed out waiting \d+ms|Broken pipe|"
    r"collective operation timeout|remote process exit|communicator was aborted|Socket Timeout|"
    r"ncclRemoteError|NCCL error: remote|heartbeat monitor|ProcessGroup\w* (?:timed out|abort)",
    re.IGNORECASE,
)
_TRACEBACK = "Traceback (most recent call last)"
_PY_EXC = re.compile(r"^\s*(?P<type>[A-Za-z_][\w.]*(?:Error|Exception|Interrupt|Exit|Failure|Timeout))(?::\s*(?P<msg>.*))?$")
_FATAL = re.compile(r"Fatal Python error: (?P<msg>.*)|(?P<sig>Segmentation fault|Aborted|Bus error|Killed)(?: \(core dumped\))?\s*$")
_SKIP_METRICS = {"step", "iter", "iteration", "rank", "epoch", "global_step", "loss"}


@dataclass(frozen=True, slots=True)
class Hit:
    """A catalog rule that matched one line; `line` counts from the tail's first line when `in_tail`."""

    rule: str
    role: Role
    text: str
    line: int
    in_tail: bool
    at: float | None
    step: int | None
    file: str = ""
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PyException:
    """The last Python exception (or fatal signal) a rank printed."""

    type: str
    message: str
    text: str
    line: int
    in_tail: bool
    at: float | None
    file: str = ""


@dataclass(slots=True)
class RankScan:
    """Everything diagnosis needs from one rank's log files (stdout, stderr and error.json merged)."""

    files: list[str] = field(default_factory=list)
    identity: dict[str, str] = field(default_factory=dict)
    steps: list[tuple[int, float | None]] = field(default_factory=list)
    last_step: int | None = None
    last_step_at: float | None = None
    last_step_line: tuple[str, int, bool, str] | None = None
    """(file, line, in_tail, text) of the last step line."""
    end_at: float | None = None
    first_nan: tuple[int, float | None, str, int, bool] | None = None
    metrics: dict[str, float] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    cascade_counts: dict[str, int] = field(default_factory=dict)
    exception: PyException | None = None
    fallback_cascade: tuple[str, int, bool, float | None, str] | None = None
    """(text, line, in_tail, time, file) of the first cascade-looking line no catalog rule matched."""
    fatal: str | None = None
    lines_after_last_step: int = 0
    tail_offsets: dict[str, int] = field(default_factory=dict)
    """Byte offset where each partly read file's tail starts (to number its lines when cited)."""
    bytes_read: int = 0
    problems: list[str] = field(default_factory=list)


def _valid_step_line(line: str, year: int) -> bool:
    body, _, _ = strip_prefix(line)
    if _EXC_LINE.match(body) or body.lstrip().startswith(("File ", "raise ", "Traceback")):
        return False
    return line_time(line, year) is not None or _LOSS.search(body) is not None


def last_step_lines(text: str, year: int, want: int = 4) -> list[re.Match[str]]:
    """The last `want` step lines in `text` (oldest first), searching backwards in growing windows."""
    window = 1024
    end = len(text)
    found: list[re.Match[str]] = []
    while end > 0 and len(found) < want:
        start = max(0, end - window)
        if start:
            start = text.rfind("\n", 0, start) + 1
        starts = []
        for m in _STEP_WORD.finditer(text, start, end):
            ls = text.rfind("\n", 0, m.start()) + 1
            if not starts or starts[-1] != ls:
                starts.append(ls)
        for ls in reversed(starts):
            m2 = _STEP.match(text, ls)
            if m2 is not None and m2.end() <= end and _valid_step_line(m2.group("line"), year):
                found.append(m2)
                if len(found) >= want:
                    break
        end = start
        window *= 4
    found.reverse()
    return found


_GATES = {"rank": "RANK", "local_rank": "LOCAL_RANK", "world_size": "WORLD_SIZE", "visible": "VISIBLE_DEVICES"}


def identity(text: str) -> dict[str, str]:
    """Identity fields from a rank log's first lines: rank, local_rank, world_size, host, visible
    devices, and from NCCL's "Init COMPLETE" line the bus id and CUDA device."""
    out: dict[str, str] = {}
    for key, rx in _IDENTITY.items():
        gate = _GATES.get(key)
        if gate is not None and gate not in text:
            continue  # a plain substring test is far cheaper than a regex that finds nothing
        m = rx.search(text)
        if m is not None:
            out[key] = m.group(1)
    at = text.find("Init COMPLETE")
    if at >= 0:
        line = text[text.rfind("\n", 0, at) + 1 : at + 20]
        m = _NCCL_INIT.search(line)
        if m is not None:
            out["nccl_host"] = m.group("host")
            out["nccl_rank"] = m.group("rank")
            out["cuda_dev"] = m.group("cuda")
            out["bus_id"] = m.group("bus")
            out["world_size"] = out.get("world_size", m.group("n"))
    return out


def step_metrics(lines: list[str]) -> dict[str, float]:
    """Numeric fields of step lines (median over the lines given), minus step counters."""
    values: dict[str, list[float]] = {}
    for line in lines:
        body, _, _ = strip_prefix(line)
        for name, val, unit in _METRIC.findall(body):
            key = name.lower().strip("'\"")
            if key in _SKIP_METRICS or key.isdigit():
                continue
            try:
                v = float(val)
            except ValueError:
                continue
            if unit == "s":
                v *= 1000.0
            values.setdefault(key, []).append(v)
    return {k: sorted(v)[len(v) // 2] for k, v in values.items()}


def scan_rank_text(
    rs: RankScan, head: str, tail: str, matcher: LineMatcher, whole: bool, file: str, year: int | None = None
) -> None:
    """Add one file's head/tail to `rs` (a rank may have stdout, stderr and more)."""
    year = year or find_year(head or tail) or 1970
    ident = identity((head or tail)[:16384])
    for k, v in ident.items():
        rs.identity.setdefault(k, v)
    in_tail = not whole
    steps = last_step_lines(tail, year)
    if steps:
        samples = [(int(m.group("step")), line_time(m.group("line"), year)) for m in steps]
        last_step, last_at = samples[-1]
        if rs.last_step is None or last_step > rs.last_step or (last_step == rs.last_step and rs.last_step_at is None):
            rs.last_step, rs.last_step_at = last_step, last_at
            last = steps[-1]
            rs.last_step_line = (file, tail.count("\n", 0, last.start()) + 1, in_tail, last.group("line"))
            rs.steps = samples
            rs.metrics = step_metrics([m.group("line") for m in steps])
    low = tail.lower()
    first_nan = _NAN_LOSS.search(tail) if ("nan" in low or "inf" in low) else None
    if first_nan is not None:
        _first_nan_step(rs, tail, tail.rfind("\n", 0, first_nan.start()) + 1, year, in_tail, file)
    _scan_region(rs, tail, steps, matcher, in_tail, year, file)
    for line in reversed(tail[-8192:].split("\n")[-60:]):
        at = line_time(line, year)
        if at is not None:
            rs.end_at = at if rs.end_at is None else max(rs.end_at, at)
            break


def _first_nan_step(rs: RankScan, tail: str, start: int, year: int, in_tail: bool, file: str) -> None:
    """The first step whose every step line on this rank shows a NaN/Inf loss. Ranks often log the
    all-reduced loss (NaN everywhere at once) next to their own; only the rank's own number leads."""
    per_step: dict[int, list[tuple[bool, re.Match[str]]]] = {}
    for m in _STEP.finditer(tail, start):
        line = m.group("line")
        if not _LOSS.search(line) or not _valid_step_line(line, year):
            continue
        per_step.setdefault(int(m.group("step")), []).append((_NAN_LOSS.search(line) is not None, m))
    for step in sorted(per_step):
        lines = per_step[step]
        if all(nan for nan, _ in lines):
            m = lines[-1][1]
            if rs.first_nan is None or step < rs.first_nan[0]:
                line_no = tail.count("\n", 0, m.start()) + 1
                rs.first_nan = (step, line_time(m.group("line"), year), m.group("line"), line_no, in_tail)
            return


def _scan_region(
    rs: RankScan,
    tail: str,
    steps: list[re.Match[str]],
    matcher: LineMatcher,
    in_tail: bool,
    year: int,
    file: str,
) -> None:
    """Catalog hits, the Python exception and fatal signals from the second-to-last step line to the
    end. Step lines themselves and traceback frames are not matched (NaN onset is read separately)."""
    start = steps[-2].start() if len(steps) >= 2 else (steps[0].start() if steps else 0)
    step_at = {m.start() - start: int(m.group("step")) for m in steps if m.start() >= start}
    after_offset = (steps[-1].end() - start) if steps else -1
    first_line = tail.count("\n", 0, start) + 1
    region = tail[start:]
    step = int(steps[-2].group("step")) if len(steps) >= 2 else rs.last_step
    in_traceback = False
    pos = 0
    for i, line in enumerate(region.split("\n")):
        line_no = first_line + i
        here = pos
        pos += len(line) + 1
        if here in step_at:
            step = step_at[here]
            continue
        if not line:
            continue
        if here > after_offset:
            rs.lines_after_last_step += 1
        body, _, _ = strip_prefix(line)
        if in_traceback and body[:1] in (" ", "\t"):
            continue  # a traceback frame: file names and code, never the fault itself
        found, cascade_like = matcher.match_flagged(line)
        if cascade_like and rs.fallback_cascade is None and here > after_offset:
            rs.fallback_cascade = (line, line_no, in_tail, line_time(line, year), file)
        for rule, fields in found:
            if rule.role is Role.CASCADE:
                n = rs.cascade_counts.get(rule.id, 0)
                rs.cascade_counts[rule.id] = n + 1
                if n >= MAX_CASCADE_HITS:
                    continue
            elif rule.role is Role.ROOT and len(rs.hits) >= MAX_ROOT_HITS:
                continue
            rs.hits.append(Hit(rule.id, rule.role, line, line_no, in_tail, line_time(line, year), step, file, fields))
        if _TRACEBACK in line:
            in_traceback = True
            continue
        if in_traceback:
            if not body:
                continue
            m = _PY_EXC.match(body)
            if m is not None:
                rs.exception = PyException(
                    m.group("type"), (m.group("msg") or "").strip(), line, line_no, in_tail, None, file
                )
                in_traceback = False
            continue
        if "Fatal Python error" in line or "fault" in line or "Abort" in line or "Killed" in line:
            f = _FATAL.search(body)
            if f is not None and rs.fatal is None:
                rs.fatal = (f.group("msg") or f.group("sig") or "").strip()
