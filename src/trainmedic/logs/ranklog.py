"""One rank's log, summarised for diagnosis: who it is (rank, host, card hints), how far it got (last
steps with their times, first NaN loss, step metrics), and what it said at the end (catalog hits,
the Python exception it died with).

Works on a head and a tail (`logs.reading.Text`); called once per rank log by diagnose's scanner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from trainmedic.catalog import Rule
from trainmedic.logs.fast import FAST
from trainmedic.logs.linematch import LineMatcher
from trainmedic.logs.pickled import by_fields
from trainmedic.logs.reading import HEAD_BYTES, TAIL_BYTES
from trainmedic.logs.timestamps import end_time, find_year, line_time, strip_prefix
from trainmedic.model import Role

MAX_ROOT_HITS = 40
MAX_CASCADE_HITS = 1
"""Per cascade rule, the first line is kept (for when the rank blocked); later ones are only counted.
18,432 victims each repeating a watchdog line three times was most of what diagnose carried."""

_STEP = re.compile(
    r"^(?P<line>.*?\b(?:global[_ ]?)?(?:step|iter(?:ation)?)\b['\"]?[\s:=#\[]*(?P<step>\d+)\b.*)$",
    re.MULTILINE | re.IGNORECASE,
)
_EXC_LINE = re.compile(r"^\s*(?:[\w.]+\.)?\w*(?:Error|Exception)\b")
_LOSS = re.compile(r"\bloss\b", re.IGNORECASE)
_NAN_LOSS = re.compile(r"\bloss\b['\"]?[\s:=]*[-+]?(?:nan|inf)\b", re.IGNORECASE)
_NAN_LOSS_LOW = re.compile(r"loss\b['\"]?[\s:=]*[-+]?(?:nan|inf)\b")
"""`_NAN_LOSS` for lowercased ASCII text, less the leading word boundary (a literal start is found
by a fast scan; the caseless pattern tries every position)."""
_IDENTITY = {
    "rank": re.compile(r"(?:(?<![\w.])RANK|\bSLURM_PROCID|\bOMPI_COMM_WORLD_RANK|\bPMI_RANK)[=:][ \t]*(\d+)"),
    "local_rank": re.compile(r"(?:\bLOCAL_RANK|\bSLURM_LOCALID|\bOMPI_COMM_WORLD_LOCAL_RANK)[=:][ \t]*(\d+)"),
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
_DIGITS = str.maketrans("0123456789", "##########")
_SKIP_METRICS = {"step", "iter", "iteration", "rank", "epoch", "global_step", "loss"}


class Hit(NamedTuple):
    """A catalog rule that matched one line; `line` counts from the tail's first line when `in_tail`.
    (A named tuple: victims' logs make tens of thousands, and a frozen dataclass costs 3 us each.)"""

    rule: str
    role: Role
    text: str
    line: int
    in_tail: bool
    at: float | None
    step: int | None
    file: str
    fields: dict[str, str]


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

    __reduce__ = by_fields


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
    step_lines: list[str] = field(default_factory=list)
    """The last step lines as written (their numbers feed the straggler search, read only if needed)."""
    hits: list[Hit] = field(default_factory=list)
    """Root and cascade hits; informational ones (library warnings) are only counted in `info_hits`."""
    info_hits: int = 0
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

    __reduce__ = by_fields


def _nan_loss(line: str) -> bool:
    """`_NAN_LOSS` finds a NaN or Inf loss on this line."""
    if not line.isascii():
        return _NAN_LOSS.search(line) is not None
    low = line.lower()
    pos = 0
    while (m := _NAN_LOSS_LOW.search(low, pos)) is not None:
        at = m.start()
        if at == 0 or not (low[at - 1].isalnum() or low[at - 1] == "_"):
            return True
        pos = at + 1
    return False


def _code_line(body: str) -> bool:
    """An exception or traceback line (which may name a step) rather than a step report."""
    return bool(_EXC_LINE.match(body)) or body.lstrip().startswith(("File ", "raise ", "Traceback"))


def _valid_step_line(line: str, year: int) -> bool:
    body, _, _ = strip_prefix(line)
    if _code_line(body):
        return False
    return line_time(line, year) is not None or _LOSS.search(body) is not None


class StepLine(NamedTuple):
    """A step line: where it starts in the text it was found in, the line, its step number."""

    start: int
    line: str
    step: int


_STEP_WORDS = ("step", "Step", "STEP", "iter", "Iter", "ITER")
_MISS = object()
_SHAPES: dict[str, tuple[int, int, bool] | None] = {}
_SHAPE_LIMIT = 50_000


def _step_shape(line: str) -> tuple[int, int, bool] | None:
    """(start, end) of the step number and whether the loss is named, for a line that is shaped like
    a step line (not an exception or traceback line), else None. Every test involved treats all digits
    alike, so the answer is kept per digit-blind shape: thousands of ranks print the same lines."""
    key = line.translate(_DIGITS)
    got = _SHAPES.get(key, _MISS)
    if got is _MISS:
        got = None
        m = _STEP.match(line)
        if m is not None:
            body, _, _ = strip_prefix(line)
            if not _code_line(body):
                got = (m.start("step"), m.end("step"), _LOSS.search(body) is not None)
        if len(_SHAPES) < _SHAPE_LIMIT:
            _SHAPES[key] = got
    return got  # type: ignore[return-value]


def last_step_lines(text: str, year: int, want: int = 4) -> list[StepLine]:
    """The last `want` step lines in `text` (oldest first), found backwards from the end."""
    if FAST is not None:
        got = FAST.last_step_lines(text, year, want, _SHAPES, _step_shape, StepLine)
        if got is not NotImplemented:
            return got  # type: ignore[no-any-return]
    return _py_last_step_lines(text, year, want)


def _py_last_step_lines(text: str, year: int, want: int) -> list[StepLine]:
    found: list[StepLine] = []
    last = {w: p for w in _STEP_WORDS if (p := text.rfind(w)) >= 0}
    while len(found) < want and last:
        pos = max(last.values())
        ls = text.rfind("\n", 0, pos) + 1
        le = text.find("\n", pos)
        line = text[ls : le if le >= 0 else len(text)]
        shape = _step_shape(line)
        if shape is not None and (shape[2] or line_time(line, year) is not None):
            found.append(StepLine(ls, line, int(line[shape[0] : shape[1]])))
        for w, p in list(last.items()):
            if p >= ls:
                q = text.rfind(w, 0, ls)
                if q >= 0:
                    last[w] = q
                else:
                    del last[w]
    found.reverse()
    return found


# Per field: literals every match contains, and how far before that literal a match can start
# ("OMPI_COMM_WORLD_" before "RANK"). The regex then starts at the first literal, not at offset 0.
_GATES = {
    "rank": (("RANK", "SLURM_PROCID"), 16),
    "local_rank": (("LOCAL_RANK", "SLURM_LOCALID"), 16),
    "world_size": (("WORLD_SIZE",), 0),
    "visible": (("VISIBLE_DEVICES",), 10),
    "host": (("host", "node"), 0),
}


def identity(text: str, limit: int | None = None) -> dict[str, str]:
    """Identity fields from a rank log's first lines (the first `limit` characters of `text`): rank,
    local_rank, world_size, host, visible devices, and from NCCL's "Init COMPLETE" line the bus id
    and CUDA device."""
    end = len(text) if limit is None else min(len(text), max(limit, 0))
    out = FAST.identity_fields(text, end) if FAST is not None else NotImplemented
    if out is NotImplemented:
        out = _py_identity_fields(text[:end])
    at = text.find("Init COMPLETE", 0, end)
    if at >= 0 and (FAST is None or FAST.nccl_fields(out, text, at, end) is NotImplemented):
        _nccl_init(out, text, at, end)  # the reference; the compiled twin takes ASCII text
    return out  # type: ignore[no-any-return]


def _nccl_init(out: dict[str, str], text: str, at: int, end: int) -> None:
    """The fields of NCCL's "Init COMPLETE" line (found at `at`, the identity lines ending at `end`)."""
    line = text[text.rfind("\n", 0, at) + 1 : min(at + 20, end)]
    m = _NCCL_INIT.search(line)
    if m is not None:
        out["nccl_host"] = m.group("host")
        out["nccl_rank"] = m.group("rank")
        out["cuda_dev"] = m.group("cuda")
        out["bus_id"] = m.group("bus")
        out["world_size"] = out.get("world_size", m.group("n"))


def _py_identity_fields(text: str) -> dict[str, str]:
    """The `_IDENTITY` fields: for each, the group of its leftmost match."""
    out: dict[str, str] = {}
    for key, rx in _IDENTITY.items():
        start = 0
        gated = _GATES.get(key)
        if gated is not None:
            # a plain substring search is far cheaper than a regex walking the text
            first = -1
            for g in gated[0]:  # each later literal only where it would come first
                p = text.find(g, 0, len(text) if first < 0 else first + len(g) - 1)
                if p >= 0:
                    first = p
            if first < 0:
                continue
            start = max(0, first - gated[1])
        m = rx.search(text, start)
        if m is not None:
            out[key] = m.group(1)
    return out


def _number(tok: str) -> float | None:
    scale = 1.0
    if tok.endswith("ms"):
        tok = tok[:-2]
    elif tok.endswith("s") and tok[:-1].replace(".", "", 1).isdigit():
        tok, scale = tok[:-1], 1000.0
    try:
        return float(tok.rstrip(",;")) * scale
    except ValueError:
        return None


def step_metrics(lines: list[str]) -> dict[str, float]:
    """Numeric fields of step lines ("name value", "name=value", "name: value"; seconds as ms),
    median over the lines given, minus step counters and the loss."""
    values: dict[str, list[float]] = {}
    for line in lines:
        body, _, _ = strip_prefix(line)
        toks = body.replace("=", " ").replace(": ", " ").split()
        for i in range(len(toks) - 1):
            name = toks[i].strip("'\",:{}|").lower()
            if not name or not name[0].isalpha() or name in _SKIP_METRICS:
                continue
            v = _number(toks[i + 1])
            if v is not None:
                values.setdefault(name, []).append(v)
    return {k: sorted(v)[len(v) // 2] for k, v in values.items()}


def scan_rank_text(
    rs: RankScan, head: str, tail: str, matcher: LineMatcher, whole: bool, file: str, year: int | None = None
) -> None:
    """Add one file's head/tail to `rs` (a rank may have stdout, stderr and more; pass the one with
    step lines first, so the others are read only after that rank's last step)."""
    year = year or find_year(head or tail) or 1970
    if "rank" not in rs.identity or "host" not in rs.identity:
        for k, v in identity(head or tail, 16384).items():
            rs.identity.setdefault(k, v)
    # the plain case, in one compiled call; anything else comes back here
    if FAST is None or FAST.scan_text(rs, tail, whole, file, year, _scan_ctx(matcher)) is NotImplemented:
        _py_scan_tail(rs, tail, matcher, whole, file, year)


def _scan_ctx(matcher: LineMatcher) -> tuple[object, ...]:
    return (_SHAPES, _step_shape, _BLOCKS, id(matcher.catalog), Hit, MAX_CASCADE_HITS)


def scan_rank_files(root: str, roles: list[Any], rank_kind: object, matcher: LineMatcher) -> RankScan | None:
    """A rank's files (`roles`: (path relative to `root`, kind, ...) in reading order) read and each given
    to `scan_rank_text`, in one compiled call: as `diagnose.scan` does file by file, without the Python
    in between. None where that call does not apply (no compiled readers, an error file among them, a
    file that is not plain ASCII text): the caller goes file by file."""
    if FAST is None:
        return None
    got = FAST.scan_files(
        root, roles, rank_kind, HEAD_BYTES, TAIL_BYTES, _scan_ctx(matcher), (RankScan, _py_scan_tail, matcher)
    )
    return None if got is NotImplemented else got  # type: ignore[no-any-return]


def _py_scan_tail(rs: RankScan, tail: str, matcher: LineMatcher, whole: bool, file: str, year: int) -> None:
    """`scan_rank_text` from the step lines on, in Python (the compiled `scan_text` declined)."""
    in_tail = not whole
    steps = last_step_lines(tail, year)
    if steps:
        samples = [(m.step, line_time(m.line, year)) for m in steps]
        last_step, last_at = samples[-1]
        if rs.last_step is None or last_step > rs.last_step or (last_step == rs.last_step and rs.last_step_at is None):
            rs.last_step, rs.last_step_at = last_step, last_at
            last = steps[-1]
            rs.last_step_line = (file, _newlines(tail, 0, last.start) + 1, in_tail, last.line)
            rs.steps = samples
            rs.step_lines = [m.line for m in steps[-2:]]
        if any(_nan_loss(m.line) for m in steps):
            # A NaN loss stays NaN: the last steps show it, the onset may be far back.
            first_nan = _NAN_LOSS.search(tail)
            if first_nan is not None:
                _first_nan_step(rs, tail, tail.rfind("\n", 0, first_nan.start()) + 1, year, in_tail, file)
        start = steps[-2].start if len(steps) >= 2 else steps[0].start
    else:
        start = _after(tail, rs.last_step_at, year)
    _scan_region(rs, tail, start, steps, matcher, in_tail, year, file)
    at = end_time(tail, year, 8192, 60)
    if at is not None:
        rs.end_at = at if rs.end_at is None else max(rs.end_at, at)


def _after(tail: str, when: float | None, year: int, max_chars: int = 65536) -> int:
    """Where the lines after `when` begin in a file without step lines (stderr next to a stdout
    that has them): walk back from the end to the first line stamped before `when`."""
    if FAST is not None:
        got = FAST.after(tail, when, year, max_chars)
        if got is not NotImplemented:
            return got  # type: ignore[no-any-return]
    return _py_after(tail, when, year, max_chars)


def _py_after(tail: str, when: float | None, year: int, max_chars: int) -> int:
    floor = max(0, len(tail) - max_chars)
    if floor:
        floor = tail.find("\n", floor) + 1
    if when is None:
        return floor
    end = len(tail)
    while end > floor:
        ls = tail.rfind("\n", floor, end - 1) + 1 if end - 1 > floor else floor
        at = line_time(tail[ls:end], year)
        if at is not None and at < when - 1.0:
            return end
        end = ls
    return floor


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


_BLOCKS: dict[tuple[int, str], _Plan] = {}
_BLOCK_LIMIT = 20_000


def _scan_region(
    rs: RankScan,
    tail: str,
    start: int,
    steps: list[StepLine],
    matcher: LineMatcher,
    in_tail: bool,
    year: int,
    file: str,
) -> None:
    """Catalog hits, the Python exception and fatal signals from `start` (the second-to-last step
    line) to the end. Step lines and traceback frames are not matched (NaN onset is read separately).

    Thousands of victims end with the same block of lines but for digits (ranks, times, pids), so
    the reading of a block is planned once per digit-blind shape and replayed on each twin.
    """
    blind = FAST.digit_blind(tail, start) if FAST is not None else NotImplemented
    if blind is NotImplemented:
        blind = tail[start:].translate(_DIGITS)
    step_line: dict[int, int] = {}
    for m in steps:
        if m.start >= start:
            step_line[_newlines(tail, start, m.start)] = m.step
    key = (id(matcher.catalog), blind)
    plan = _BLOCKS.get(key)
    if plan is None:
        plan = _compile(_plan(tail[start:].split("\n"), set(step_line), max(step_line, default=-1), matcher))
        if len(_BLOCKS) < _BLOCK_LIMIT:
            _BLOCKS[key] = plan
    rs.lines_after_last_step += plan.after
    if not plan.items:  # most victims' stdout: nothing after the last steps but more steps
        return
    lines = tail[start:].split("\n")
    first_line = -1  # counted only when a line is cited
    step = steps[-2].step if len(steps) >= 2 else rs.last_step

    def hit(rule: Rule, idx: int, fields: dict[str, str]) -> None:
        nonlocal first_line
        at_step = step
        for si, si_step in step_line.items():  # in line order
            if si < idx:
                at_step = si_step
        if first_line < 0:
            first_line = _newlines(tail, 0, start) + 1
        line = lines[idx]
        rs.hits.append(Hit(rule.id, rule.role, line, first_line + idx, in_tail, line_time(line, year), at_step, file, dict(fields)))

    if plan.simple:
        # Only digit-blind cascade and informational hits: counted per rule, and a Hit made only for
        # the lines that the general loop below would keep (the first per rule and rank), in its order.
        rs.info_hits += plan.info
        made: list[tuple[int, int, Rule]] = []
        for crule, where in plan.cascades:
            n = rs.cascade_counts.get(crule.id, 0)
            rs.cascade_counts[crule.id] = n + len(where)
            if n < MAX_CASCADE_HITS:
                made.extend((pos, i, crule) for pos, i in where[: MAX_CASCADE_HITS - n])
        made.sort(key=lambda m: m[0])
        for _, at_idx, cascade in made:
            hit(cascade, at_idx, {})
        items: tuple[tuple[object, ...], ...] = plan.extras
    else:
        items = plan.items
    for item in items:
        kind, idx = item[0], item[1]
        assert isinstance(idx, int)
        line = lines[idx]
        if kind == "hit":
            rule = item[2]
            assert isinstance(rule, Rule)
            fields = item[3]
            if fields is None:
                fields = rule.search(line)  # roots and number-naming rules: this line's own fields
                if fields is None:
                    continue
            role = rule.role
            if role is Role.CASCADE:
                n = rs.cascade_counts.get(rule.id, 0)
                rs.cascade_counts[rule.id] = n + 1
                if n >= MAX_CASCADE_HITS:
                    continue
            elif role is Role.INFO:
                rs.info_hits += 1
                continue
            elif role is Role.ROOT and len(rs.hits) + rs.info_hits >= MAX_ROOT_HITS:
                continue
            hit(rule, idx, fields if isinstance(fields, dict) else {})
            continue
        if first_line < 0:
            first_line = _newlines(tail, 0, start) + 1
        line_no = first_line + idx
        if kind == "fallback" and rs.fallback_cascade is None:
            rs.fallback_cascade = (line, line_no, in_tail, line_time(line, year), file)
        elif kind == "exception":
            em = _PY_EXC.match(strip_prefix(line)[0])
            if em is not None:
                rs.exception = PyException(em.group("type"), (em.group("msg") or "").strip(), line, line_no, in_tail, None, file)
        elif kind == "fatal" and rs.fatal is None:
            f = _FATAL.search(strip_prefix(line)[0])
            if f is not None:
                rs.fatal = (f.group("msg") or f.group("sig") or "").strip()


class _Plan(NamedTuple):
    """A block's reading, compiled once per shape. `items` in line order ("hit", "fallback",
    "exception", "fatal"); when `simple` (no root hits, no hit whose fields come from the line) the
    hits are also grouped: `info` informational ones, and per cascade rule its (item position, line)
    list, so that a twin's replay touches each rule once; `extras` are the items that are not hits."""

    after: int
    items: tuple[tuple[object, ...], ...]
    simple: bool
    info: int
    cascades: tuple[tuple[Rule, tuple[tuple[int, int], ...]], ...]
    extras: tuple[tuple[object, ...], ...]


def _compile(raw: tuple[tuple[object, ...], ...]) -> _Plan:
    after = raw[-1][1]
    assert raw[-1][0] == "count" and isinstance(after, int)
    items = raw[:-1]
    hits = [it for it in items if it[0] == "hit"]
    simple = all(it[3] is not None and it[2].role is not Role.ROOT for it in hits)  # type: ignore[attr-defined]
    info = 0
    cascades: dict[str, tuple[Rule, list[tuple[int, int]]]] = {}
    if simple:
        for pos, it in enumerate(items):
            if it[0] != "hit":
                continue
            rule = it[2]
            assert isinstance(rule, Rule) and isinstance(it[1], int)
            if rule.role is Role.INFO:
                info += 1
            elif rule.role is Role.CASCADE:
                cascades.setdefault(rule.id, (rule, []))[1].append((pos, it[1]))
            else:  # a role replay does not know: keep the general loop
                simple = False
                break
    return _Plan(
        after, items, simple, info, tuple((r, tuple(w)) for r, w in cascades.values()),
        tuple(it for it in items if it[0] != "hit"),
    )


def _newlines(text: str, start: int, end: int) -> int:
    if FAST is not None:
        got = FAST.newlines(text, start, end)
        if got is not NotImplemented:
            return got  # type: ignore[no-any-return]
    return text.count("\n", start, end)


def _plan(lines: list[str], step_lines: set[int], last_step_idx: int, matcher: LineMatcher) -> tuple[tuple[object, ...], ...]:
    """What to take from each line of a block: catalog hits (fields kept only where no other line
    of the same shape could differ), the exception line, a fatal signal, a fallback cascade line."""
    plan: list[tuple[object, ...]] = []
    in_traceback = False
    after = 0
    for i, line in enumerate(lines):
        if i in step_lines or not line:
            continue
        if i > last_step_idx:
            after += 1
        body, _, _ = strip_prefix(line)
        if in_traceback and body[:1] in (" ", "\t"):
            continue  # a traceback frame: file names and code, never the fault itself
        found, cascade_like = matcher.match_flagged(line)
        if cascade_like and i > last_step_idx:
            plan.append(("fallback", i))
        for rule, _ in found:
            digit_blind = rule.role is not Role.ROOT and not matcher.names_numbers(rule)
            plan.append(("hit", i, rule, {} if digit_blind else None))
        if _TRACEBACK in line:
            in_traceback = True
            continue
        if in_traceback:
            if body and _PY_EXC.match(body) is not None:
                plan.append(("exception", i))
                in_traceback = False
            continue
        if ("Fatal Python error" in line or "fault" in line or "Abort" in line or "Killed" in line) and _FATAL.search(body):
            plan.append(("fatal", i))
    plan.append(("count", after))
    return tuple(plan)
